"""Testing kit for plugin authors: fixtures (a pytest plugin), an event builder, conformance suites."""
