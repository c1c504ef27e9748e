"""Streamlit entry point: `streamlit run app.py -- --config campaign.yaml` (see `socscope dashboard`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from socscope.dashboard import gate, kit, views  # noqa: E402


def _config_path() -> str:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--config", default=None)
    args, _ = ap.parse_known_args(sys.argv[1:])
    if args.config:
        return args.config
    from socscope.cli import default_config

    return default_config()


def main() -> None:
    st.set_page_config(page_title="socscope", layout="wide")
    gate.require_login()  # before anything of the warehouse is read
    config = _config_path()
    try:
        ctx = kit.context(config)
    except Exception as exc:  # noqa: BLE001 - a missing warehouse is a message, not a traceback
        st.error(f"cannot open the warehouse of {config}: {exc}")
        st.stop()
    nav = st.navigation(views.streamlit_pages(), position="sidebar")
    views.sidebar(ctx)
    views.run_page(nav, ctx)


main()
