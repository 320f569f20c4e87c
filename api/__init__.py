"""The Litestar application: thin controllers that validate, call core and serialise."""
