"""The toy technique with a configurable pause per file (SOCSCOPE_TOY_DELAY_S), so that a test can kill
a worker while a run is between writing data files and committing them."""
from __future__ import annotations

import os
import time
from dataclasses import replace

from tests.support import toy_technique


def process(m, ctx):
    time.sleep(float(os.environ.get("SOCSCOPE_TOY_DELAY_S", "0")))
    return toy_technique.process(m, ctx)


TECHNIQUE = replace(toy_technique.TECHNIQUE, process=process)
