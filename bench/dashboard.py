"""Dashboard benchmark: the first page in a real browser (headless chromium, as the dashboard browser
tests drive it), timed from the request to the page drawn (the page's ``page-ready`` footer shown, the
script idle, every chart drawn), once the server answers its health check, as `socscope dashboard`
starts it. Baseline: the same browser loading a static HTML page of the same size (the drawn page's
HTML without its scripts) from a plain ``http.server``, to its load event.

    python bench/dashboard.py                           # builds the small demo first (--local; not timed)
    python bench/dashboard.py --config demo/campaign.yaml --quick

The first page is the first visitor's (nothing of the page's data cached in the server); then
``--repeats`` more visits (new browser contexts: new sessions) alternate with the static page.
Goal (issue 22): first_page_s <= 2. Last line: key=value pairs, ``ratio=`` first page / static page
(median); ``server_cpu_s``: user + system seconds of the dashboard server during the first page.
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


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(work: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "socscope.cli", "demo", "--dir", str(work / "demo"), "--local"],
                   env=env, cwd=work, check=True, capture_output=True)
    return work / "demo" / "campaign.yaml"


def start_server(config: Path, port: int, log: Path) -> subprocess.Popen:
    """The dashboard as `socscope dashboard` starts it; returns once its health check answers."""
    from socscope.dashboard import dashboard_env, streamlit_command

    env = {**dashboard_env(config), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(streamlit_command(config, port), env=env, cwd=config.parent,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the dashboard did not start:\n{log.read_text()[-3000:]}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def visit(browser, url: str, drawn: bool) -> tuple[float, str]:
    """Seconds from the request to the page drawn (or to its load event for the static page), in a new
    context (a new session, nothing cached in the browser), and the page's HTML."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url, wait_until="load", timeout=120_000)
    if drawn:
        page.wait_for_function(DRAWN_JS, timeout=120_000, polling=50)
    seconds = time.perf_counter() - t0
    html = page.content()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    ap.add_argument("--config", help="campaign.yaml of an existing demo (default: build one in a temp folder)")
    ap.add_argument("--port", type=int, default=8714)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    repeats = 3 if args.quick else 7
    work = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    load0 = os.getloadavg()[0]
    proc = httpd = None
    try:
        config = Path(args.config).resolve() if args.config else demo_config(work)
        port = free_port(args.port)
        proc = start_server(config, port, work / "server.log")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            cpu0 = cpu_seconds(proc.pid)
            first, html = visit(browser, f"http://127.0.0.1:{port}", drawn=True)
            server_cpu = cpu_seconds(proc.pid) - cpu0
            (work / "static").mkdir()
            size = static_copy(html, work / "static")
            httpd, static_port = serve_static(work / "static")
            again, static = [], []
            for _ in range(repeats):
                again.append(visit(browser, f"http://127.0.0.1:{port}", drawn=True)[0])
                static.append(visit(browser, f"http://127.0.0.1:{static_port}/index.html", drawn=False)[0])
            browser.close()
    finally:
        if httpd is not None:
            httpd.shutdown()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    load = max(load0, os.getloadavg()[0])
    print(f"first page {first:.2f} s (server cpu {server_cpu:.2f} s); later visits median {statistics.median(again):.2f} s; "
          f"static page of {size} bytes median {statistics.median(static):.3f} s")
    print(f"# {repeats} alternating visits after the first; load average {load:.1f} on {os.cpu_count()} cores")
    print(f"bench=dashboard first_page_s={first:.2f} again_s={statistics.median(again):.2f} "
          f"static_s={statistics.median(static):.3f} html_bytes={size} server_cpu_s={server_cpu:.2f} load={load:.1f} "
          f"ratio={first / statistics.median(static):.1f}")


if __name__ == "__main__":
    main()
