"""A stateful, spec-validating emulator of the DigitalOcean API v2 for berth's tests (loopback only)."""

from .server import Emulator, make_cert

__all__ = ["Emulator", "make_cert"]
