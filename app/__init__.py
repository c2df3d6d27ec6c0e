"""Starboard: the internal-tools admin on Starlette."""

__version__ = "0.1.0"
