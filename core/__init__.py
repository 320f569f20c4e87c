"""tribeops core: the domain, storage and plugin system. Knows nothing of HTTP or job queues."""

__version__ = "0.1.0"
