"""Dashboard benchmark: the first page in a real browser (headless chromium, as the dashboard browser
tests drive it), timed from the request to the page drawn (the page's ``page-ready`` footer shown, the
script idle, every chart drawn). The server is started as a user starts it (``socscope dashboard``) and
the clock starts when it is up (its health check answers: the command's warm-up is done by then).
Baseline: the same browser loading a static HTML page of the same size (the drawn page's HTML without
its scripts) from a plain ``http.server``, to its load event.

    python bench/dashboard.py                           # builds the small demo first (--local; not timed)
    python bench/dashboard.py --config demo/campaign.yaml --quick

Each round starts a new server and makes its first visit (the first visitor: nothing of the page's data
cached in the server, a new browser context: nothing cached in the browser), then one more visit (a
later visitor), then the static page; the server is stopped. Then a new server comes up on the same port
and a returning visitor makes its first visit (``returning_s``: a browser that has been to this dashboard
before, as a group's users have between beamtimes, whose HTTP cache holds Streamlit's client). Rounds: ``--visits`` (5; 3 with --quick);
figures are medians over rounds. ``streamlit_floor_s``: the first visit of a bare Streamlit page (a
title, one small chart, the footer) served the same way: what Streamlit's client bootstrap alone costs
(not a baseline of the same work; shown beside it). Goal (issue 22): first_page_s <= 2. Last line: key=value pairs,
``ratio=`` first page / static page; ``start_s``: command to server up; ``server_cpu_s`` and
``browser_cpu_s``: user + system seconds of the dashboard server and of the browser during a first page.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from as_a_user import free_port, keep_bytecode  # noqa: E402
sys.path.insert(0, str(ROOT))
CHROMIUM = os.environ.get("SOCSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: drawn: the footer of the page is shown, the script is idle, no skeleton left, every chart has marks
DRAWN_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  const cap = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .find(e => e.innerText.includes('page-ready'));
  if (!cap || document.querySelector('[data-testid="stSkeleton"]')) return false;
  return [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].every(c => c.querySelector('canvas, svg.marks'));
}"""


def demo_config(work: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "socscope.cli", "demo", "--dir", str(work / "demo"), "--local"],
                   env=env, cwd=work, check=True, capture_output=True)
    return work / "demo" / "campaign.yaml"


#: Streamlit's own floor: a page with a title, one small chart and the footer, nothing of ours
FLOOR_APP = """import streamlit as st
st.title("Campaign")
st.vega_lite_chart({"data": {"values": [{"x": f"t{i % 4}", "y": f"s{i // 4}", "n": i} for i in range(32)]},
                    "mark": "rect", "encoding": {"x": {"field": "x", "type": "nominal"},
                    "y": {"field": "y", "type": "nominal"}, "color": {"field": "n", "type": "quantitative"}}})
st.caption("page-ready")
"""


def dashboard_command(config: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "socscope.cli", "dashboard", "--config", str(config), "--port", str(port)]


def floor_command(app: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def start_server(cmd: list[str], port: int, log: Path) -> tuple[subprocess.Popen, float]:
    """``cmd`` in its own process group; returns it, with the seconds until it is up (health check)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    t0 = time.perf_counter()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise SystemExit(f"the dashboard did not start:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """The command and the Streamlit server it started (its process group, made for it at start)."""
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    except ProcessLookupError:
        pass


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def cpu_seconds(*pids: int) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def visit(browser, url: str, drawn: bool, context=None) -> tuple[float, str]:
    """Seconds from the request to the page drawn (or to its load event for the static page), and the
    page's HTML. In a new context (a new session, nothing cached in the browser) unless ``context`` is
    given: a returning visitor's, whose browser cache holds what earlier visits fetched."""
    own = context is None
    context = browser.new_context(viewport={"width": 1400, "height": 1000}) if own else context
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url, wait_until="load", timeout=120_000)
    if drawn:
        page.wait_for_function(DRAWN_JS, timeout=120_000, polling=50)
    seconds = time.perf_counter() - t0
    html = page.content()
    page.close()
    if own:
        context.close()
    return seconds, html


def static_copy(html: str, folder: Path) -> int:
    """The drawn page as a static file of the same size: scripts and stylesheet links out, padded back."""
    plain = re.sub(r"<script\b.*?</script>|<link\b[^>]*>", "", html, flags=re.S | re.I)
    size = len(html.encode())
    padding = max(0, size - len(plain.encode()) - 9)
    (folder / "index.html").write_text(plain + "<!--" + "x" * padding + "-->", encoding="utf-8")
    return size


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_static(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


def wait_closed(port: int, timeout: float = 30) -> None:
    """Until nothing listens on ``port``: the stopped server's Streamlit child may outlive its command."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} still answers {timeout:.0f} s after its server was stopped")


def returning_first_page(browser, returning, config: Path, log: Path, port: int) -> float:
    """A new server's first page for a visitor who has been before: ``returning`` has visited this
    origin (the cache is kept per origin: the server comes back on the same port), so its browser cache holds
    Streamlit's client; the server side is as new as for ``first``."""
    wait_closed(port)
    proc, _ = start_server(dashboard_command(config, port), port, log)
    try:
        return visit(browser, f"http://127.0.0.1:{port}", drawn=True, context=returning)[0]
    finally:
        stop_server(proc)


def first_visits(browser, config: Path, work: Path, rounds: int, port: int) -> dict[str, list]:
    """``rounds`` times: a new server (``socscope dashboard``), its first visit, a later one; a new
    Streamlit floor server and its first visit; then the static page of the first."""
    out: dict[str, list] = {k: [] for k in ("start", "first", "again", "returning", "floor", "static",
                                            "server_cpu", "browser_cpu")}
    (work / "floor.py").write_text(FLOOR_APP, encoding="utf-8")
    returning = browser.new_context(viewport={"width": 1400, "height": 1000})
    httpd = static_port = None
    try:
        for i in range(rounds):
            ours = free_port(port)
            url = f"http://127.0.0.1:{ours}"
            proc, start = start_server(dashboard_command(config, ours), ours, work / f"server{i}.log")
            try:
                server = [proc.pid, *descendants(proc.pid)]
                cpu0, bcpu0 = cpu_seconds(*server), cpu_seconds(*descendants(os.getpid())) - cpu_seconds(*server)
                first, html = visit(browser, url, drawn=True)
                out["server_cpu"].append(cpu_seconds(*server) - cpu0)
                out["browser_cpu"].append(cpu_seconds(*descendants(os.getpid())) - cpu_seconds(*server) - bcpu0)
                out["again"].append(visit(browser, url, drawn=True)[0])
                visit(browser, url, drawn=True, context=returning)  # what a returning visitor's cache holds
            finally:
                stop_server(proc)
            out["start"].append(start)
            out["first"].append(first)
            out["returning"].append(returning_first_page(browser, returning, config, work / f"again{i}.log", ours))
            floor_port = free_port(port + 1)
            proc, _ = start_server(floor_command(work / "floor.py", floor_port), floor_port, work / f"floor{i}.log")
            try:
                out["floor"].append(visit(browser, f"http://127.0.0.1:{floor_port}", drawn=True)[0])
            finally:
                stop_server(proc)
            if httpd is None:
                (work / "static").mkdir()
                out["html_bytes"] = [static_copy(html, work / "static")]
                httpd, static_port = serve_static(work / "static")
            out["static"].append(visit(browser, f"http://127.0.0.1:{static_port}/index.html", drawn=False)[0])
    finally:
        if httpd is not None:
            httpd.shutdown()
    return out


def main() -> None:
    keep_bytecode()  # bench/as_a_user.py
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    ap.add_argument("--visits", type=int, default=None, help="rounds (a new server and its first visit each)")
    ap.add_argument("--config", help="campaign.yaml of an existing demo (default: build one in a temp folder)")
    ap.add_argument("--port", type=int, default=8714)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rounds = args.visits or (3 if args.quick else 5)
    work = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    load0 = os.getloadavg()[0]
    try:
        config = Path(args.config).resolve() if args.config else demo_config(work)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            r = first_visits(browser, config, work, rounds, args.port)
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    m = {k: statistics.median(v) for k, v in r.items()}
    print("first pages " + " ".join(f"{x:.2f}" for x in r["first"]) + " s; returning visitors " + " ".join(f"{x:.2f}" for x in r["returning"]) + " s; later visits "
          + " ".join(f"{x:.2f}" for x in r["again"]) + f" s; static page of {m['html_bytes']:.0f} bytes "
          f"median {m['static']:.3f} s; Streamlit floor page " + " ".join(f"{x:.2f}" for x in r["floor"])
          + " s; server up after " + " ".join(f"{x:.2f}" for x in r["start"]) + " s")
    print(f"# {rounds} rounds (a new server and its first visit each), medians; load average {load:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"bench=dashboard rounds={rounds} first_page_s={m['first']:.2f} first_page_max_s={max(r['first']):.2f} "
          f"again_s={m['again']:.2f} returning_s={m['returning']:.2f} streamlit_floor_s={m['floor']:.2f} static_s={m['static']:.3f} start_s={m['start']:.2f} "
          f"html_bytes={m['html_bytes']:.0f} server_cpu_s={m['server_cpu']:.2f} browser_cpu_s={m['browser_cpu']:.2f} "
          f"load={load:.1f} cores={os.cpu_count()} ratio={m['first'] / m['static']:.1f}")


if __name__ == "__main__":
    main()
