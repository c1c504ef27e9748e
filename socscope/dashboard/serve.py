"""``python serve.py run app.py … -- --config campaign.yaml``: Streamlit's own command line, after a
warm-up that the first visitor would otherwise wait for (issue 22: the first page within 2 s of the
server being up): the first page's imports (altair, pandas, DuckDB, every technique plugin: ~2.5 s on
the 2-core machine), the campaign file, and the warehouse catalog with its connection on the newest
snapshot (data.campaign_for / data.catalog_for keep them for every session of the process), and
Streamlit's REPL check of a process's first element (skip_repl_check). The
imports run in a thread while Streamlit imports itself; the server starts listening only once the
warm-up is done, so "the server is up" means it can serve the first page at once. Nothing of
Streamlit's caching is imported here: the pages' ``st.cache_*`` functions must be created inside the
running server."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file (as app.py is), socscope need not be installed
    sys.path.insert(0, str(ROOT))

#: what the first page run imports that has nothing of Streamlit's caching in it
WARM = ("pandas", "pyarrow", "duckdb", "altair", "foundation.config", "warehouse.catalog", "warehouse.user_sql",
        "warehouse.declared", "warehouse.marts.features", "socscope.status", "socscope.client",
        "socscope.dashboard.data")


def config_of(argv: list[str]) -> str | None:
    """The ``--config`` the app will read (after ``--`` on Streamlit's command line), else $SOCSCOPE_CONFIG."""
    args = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--config", default=None)
    return ap.parse_known_args(args)[0].config or os.environ.get("SOCSCOPE_CONFIG")


def warm(config: str | None, report: dict) -> None:
    """Import what the first page runs, then open the campaign and the catalog it reads."""
    t0 = time.perf_counter()
    try:
        for name in WARM:
            importlib.import_module(name)
        from foundation.registry import available_techniques, technique

        for name in available_techniques():
            technique(name)
        if config:
            from socscope.dashboard import data

            campaign = data.campaign_for(config)
            data.catalog_for(campaign.resolve(campaign.storage.warehouse)).query("select 1")
    except Exception as exc:  # noqa: BLE001 - the page shows the same failure to its visitor, with its message
        report["error"] = f"{type(exc).__name__}: {exc}"
    report["seconds"] = time.perf_counter() - t0


def skip_repl_check() -> None:
    """Streamlit's first element of a process asks whether it runs in a Python REPL, to print a
    "use streamlit run" hint, by reading the whole call stack with its source lines (``inspect.stack``:
    0.1–0.3 s of the first visitor's page run). This process is ``streamlit run``: nothing to hint."""
    from streamlit import delta_generator

    delta_generator._use_warning_has_been_displayed = True


def main() -> None:
    report: dict = {}
    warming = threading.Thread(target=warm, args=(config_of(sys.argv), report), name="socscope-warm-up", daemon=True)
    warming.start()
    from streamlit.web import cli  # ~1 s, beside the warm-up

    warming.join()
    skip_repl_check()
    print(f"socscope dashboard: warmed up in {report['seconds']:.2f} s"
          + (f" (not all: {report['error']})" if "error" in report else ""), flush=True)
    sys.argv[0] = "streamlit"
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
