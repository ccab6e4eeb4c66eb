"""homeport: keep a service at home reachable from the internet at a stable name."""

__version__ = "0.1.0"
