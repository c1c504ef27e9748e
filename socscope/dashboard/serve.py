"""``python serve.py run app.py …``: Streamlit's own command line, with the heavy imports
of the first page (altair, pandas, DuckDB, every technique plugin: ~2.5 s on the 2-core machine) done in
a thread while the server starts, so that the first visitor does not wait for them (issue 22: the first
page within 2 s of the server being up). Nothing of Streamlit's caching is imported here: the pages'
``st.cache_*`` functions must be created inside the running server."""
from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file (as app.py is), socscope need not be installed
    sys.path.insert(0, str(ROOT))

#: what the first page run imports that has nothing of Streamlit's caching in it
WARM = ("pandas", "pyarrow", "duckdb", "altair", "foundation.config", "warehouse.catalog", "warehouse.user_sql",
        "warehouse.declared", "warehouse.marts.features", "socscope.status", "socscope.client")


def warm() -> None:
    for name in WARM:
        importlib.import_module(name)
    from foundation.registry import available_techniques, technique

    for name in available_techniques():
        technique(name)


def main() -> None:
    threading.Thread(target=warm, name="socscope-warm-imports", daemon=True).start()
    from streamlit.web import cli

    sys.argv[0] = "streamlit"
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
