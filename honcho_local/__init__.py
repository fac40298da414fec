"""honcho-local: a local-first, Honcho-v3-compatible memory server for stateful AI agents."""

__version__ = "0.1.0"
