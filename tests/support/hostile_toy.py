"""The toy technique with a reader that misbehaves on request, for the per-file isolation tests.

A line in the file picks the misbehaviour: ``#hang`` loops for ever, ``#hog`` allocates far beyond any
sane limit, ``#bytes`` fails with the file's raw bytes in its message, ``#crash`` kills its own process.
Its cross-file step kills its own process when ``HOSTILE_TOY_FINALIZE=crash`` (file workers inherit it).
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from tests.support import toy_technique


class HostileCsvReader(toy_technique.ToyCsvReader):
    name = "hostile-csv"

    def read(self, path, options):
        raw = Path(path).read_bytes()
        if b"#hang" in raw:
            while True:  # a reader stuck in a loop on a damaged file
                time.sleep(0.05)
        if b"#hog" in raw:
            hog = bytearray(64 * 2**30)  # what a damaged header may announce: 64 GiB
            return hog  # never reached under the limit
        if b"#bytes" in raw:
            raise ValueError("could not parse the header: " + raw.decode("latin-1"))
        if b"#crash" in raw:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().read(path, options)


def finalize(ctx):
    if os.environ.get("HOSTILE_TOY_FINALIZE") == "crash":  # a crash in a library the step calls
        os.kill(os.getpid(), signal.SIGKILL)
    return toy_technique.finalize(ctx)


TECHNIQUE = replace(toy_technique.TECHNIQUE, readers=[HostileCsvReader(), toy_technique.ToyJsonReader()],
                    finalize=finalize)
