"""`socscope dashboard`: a read-only web dashboard on the warehouse (Streamlit).

Why Streamlit (over Panel or Dash):
- it is already in the project's ``dashboard`` extra and imports in ~1 s; the whole dashboard is a
  few plain Python functions per page, with no callback graph to maintain (Dash) and no Bokeh
  server/widget layer to learn (Panel);
- ``st.cache_data`` keyed on the catalog snapshot gives fast page loads and still shows new data as
  soon as a flow commits (a new snapshot is a new cache key);
- Altair charts (bundled with Streamlit) support point/interval selections (``on_select``), which is
  what "click a correlation cell to see its scatter" needs, and render to SVG/canvas that a
  headless browser test can inspect;
- multipage apps (``st.navigation``) give each page its own URL (``/campaign``, ``/afm_maps``…),
  so a browser test can load pages one by one and time them.

The app reads the warehouse only through :mod:`warehouse.catalog` (DuckDB, read-only, newest
snapshot per query), so it never blocks a writer and never sees a half-written table.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
SERVE = Path(__file__).with_name("serve.py")
DEFAULT_PORT = 8501


def streamlit_command(config: str | Path, port: int = DEFAULT_PORT, address: str = "127.0.0.1") -> list[str]:
    """The command that serves the dashboard: headless, no telemetry, loopback only."""
    # serve.py is Streamlit's command line plus imports warmed while the server starts
    return [sys.executable, str(SERVE), "run", str(APP),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            "--client.toolbarMode", "minimal", "--theme.base", "light",
            "--", "--config", str(Path(config).resolve())]


def dashboard_env(config: str | Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SOCSCOPE_CONFIG"] = str(Path(config).resolve())
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    env.setdefault("STREAMLIT_SERVER_HEADLESS", "true")
    return env


def cmd_dashboard(args) -> int:
    from foundation.config import load_campaign
    from socscope.exposure import ExposureError, check_dashboard_bind

    try:
        check_dashboard_bind(args.address, os.environ)  # the warehouse is not for the network unasked
    except ExposureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    campaign = load_campaign(args.config)  # fail early, with the config's own message
    from warehouse.catalog import open_catalog

    open_catalog(campaign.resolve(campaign.storage.warehouse)).close()  # FileNotFoundError -> exit 2
    cmd = streamlit_command(args.config, args.port, args.address)
    # the server warms up before it listens (serve.py): it is up when Streamlit prints the URL
    print(f"socscope dashboard starting on http://{args.address}:{args.port}  (campaign {campaign.name}; up when the "
          "URL is printed again; Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(cmd, env=dashboard_env(args.config))
    except KeyboardInterrupt:
        return 0


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("dashboard", help="web dashboard on the warehouse (read-only, Streamlit)")
    p.add_argument("--config", default=None,
                   help="campaign file (default: $SOCSCOPE_CONFIG, ./campaign.yaml, ./demo/campaign.yaml)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--address", default="127.0.0.1", help="interface to listen on (default loopback only; any other needs "
                        "SOCSCOPE_DASHBOARD_PASSWORD or SOCSCOPE_DASHBOARD_AUTH_HEADER)")
    p.set_defaults(fn=cmd_dashboard)
