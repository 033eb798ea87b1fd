"""Small helpers shared by the tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
