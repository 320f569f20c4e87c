"""msgspec schemas: what goes over the wire, shared by core, the API and the plugin API."""
