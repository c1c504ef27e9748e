"""What every benchmark that starts processes runs them as: a user's Python, which keeps compiled bytecode;
and the ports their servers listen on.

A session may set PYTHONDONTWRITEBYTECODE=1 for every process (this machine does): each process then
compiled again every module of the platform without a fresh .pyc — ~120 of them, ~0.3 s of a 0.9 s
no-op re-run and of every file worker's start — which no user's installation does (an installed
package ships its bytecode; a checkout writes it at the first import).
"""
from __future__ import annotations

import os
import socket
import sys


def keep_bytecode() -> None:
    """This process and every process it starts write and use compiled bytecode, as a user's do."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def free_port(preferred: int = 0) -> int:
    """``preferred`` when nothing listens there, else a port the system picks: a server still closing from
    an earlier run holds its port for a while (moto's server then waited for ever to start)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
