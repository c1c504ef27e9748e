#!/usr/bin/env bash
# Set up socscope in ./.venv. With --system-tools, also install the Debian packages the full test
# suite needs: mdbtools (Arbin .res), chromium (dashboard browser tests), postgresql (Prefect
# server database test). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system-tools" ]]; then
  need=()
  command -v mdb-export >/dev/null || need+=(mdbtools)
  command -v chromium >/dev/null || need+=(chromium)
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  if ((${#need[@]})); then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# every optional extra, GPL readers included, so that every reader is installed and tested
.venv/bin/python -m pip install -q -e '.[all]'
# beep (a test-only cross-check reader) requires the long-dead msgpack-python 0.5, which writes the same
# msgpack/ files as msgpack 1.x: whichever pip installs last wins, and 0.5 breaks Dask. msgpack 1.x last:
.venv/bin/python -m pip install -q --force-reinstall --no-deps "msgpack>=1.0"
echo "socscope is set up in .venv (activate with: . .venv/bin/activate)"
