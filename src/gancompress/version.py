"""The package version (one place; ``gancompress --version`` and env.json read it without importing torch)."""

__version__ = "0.1.0"
