"""The dashboard in a real browser: headless Debian chromium driven by Playwright (STACK_NOTES).

One small demo warehouse is built per module (plus one unreadable file, so the quarantine has a row),
the dashboard runs as `socscope dashboard` would start it (a separate Streamlit process on a free
loopback port), and every page is opened from the sidebar like a user would. For each page: no
Streamlit exception element, no console error, its main plot has data, a filter changes what is
shown, a screenshot goes to test-output/dashboard/. One test reloads pages while a campaign run
writes the warehouse. Page load times are printed and written to test-output/dashboard/load_times.json.

Set SOCSCOPE_DASHBOARD_TEST_DIR to a folder holding an already built demo (campaign.yaml) to skip
the build while iterating on the dashboard.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test-output" / "dashboard"
CHROMIUM = os.environ.get("SOCSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOAD_TIMEOUT_MS = 60_000

# page slug, sidebar title
PAGES = [("campaign", "Campaign"), ("soc_profiles", "SOC profiles"), ("sample", "Sample"), ("afm_maps", "AFM maps"),
         ("diffraction", "Diffraction"), ("afm_pixels", "ESM × C-AFM pixels"), ("gitt", "GITT"), ("nexafs", "NEXAFS"),
         ("correlations", "Correlations"), ("findings", "Findings & quality")]

LOAD_TIMES: dict[str, dict[str, float]] = {}

# "loaded": the footer of this run is there, the script is idle, no skeleton is left and every chart
# has drawn its marks (canvas or svg)
LOADED_JS = """(old) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  const cap = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .find(e => e.innerText.includes('page-ready'));
  if (!cap || cap.innerText === old) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return charts.every(c => c.querySelector('canvas, svg.marks'));
}"""
FOOTER = re.compile(r"page-ready · main plot: (\d+) points · digest (\S+) · rendered in ([\d.]+) s · snapshot (\S+) · run (\d+)")


# ------------------------------------------------------------------------------------------ fixtures
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_demo(src: Path, dst: Path):
    """A private, writable copy of the session's demo campaign (tests must not write into that one)."""
    from foundation.config import load_campaign
    from tasks import pipeline
    from warehouse.catalog import write_catalog

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".prefect", "catalogs", "catalog.duckdb"))
    campaign = load_campaign(dst / "campaign.yaml")
    wh = pipeline.open_warehouse(campaign)
    write_catalog(wh, wh.manifest())  # views on the copy's own Parquet files
    return campaign


@pytest.fixture(scope="module")
def demo(request, tmp_path_factory):
    """(root, campaign): the small demo, processed with marts, plus one quarantined file."""
    from foundation.config import load_campaign
    from tasks import pipeline

    given = os.environ.get("SOCSCOPE_DASHBOARD_TEST_DIR")
    if given:
        return Path(given), load_campaign(Path(given) / "campaign.yaml")
    t0 = time.monotonic()
    shared = request.getfixturevalue("demo_campaign")  # built once per session (tests/conftest.py)
    root = tmp_path_factory.mktemp("dashboard") / "demo"
    campaign = _copy_demo(Path(shared.base_dir), root)
    # one unreadable file: the quarantine tables then have a row with its reason
    (root / "share" / "afm" / "C-PRI" / "C-PRI_loc09_esm.ibw").write_bytes(b"not an Igor wave " * 8)
    pipeline.run_local(campaign, ["afm"], flow_run_id="dashboard-fixture")
    print(f"\n[dashboard] demo warehouse ready in {time.monotonic() - t0:.1f} s")
    return root, campaign


@pytest.fixture(scope="module")
def server(demo):
    from socscope.dashboard import dashboard_env, streamlit_command

    root, _ = demo
    OUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = OUT / "server.log"
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen(streamlit_command(root / "campaign.yaml", port), env=dashboard_env(root / "campaign.yaml"),
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(root))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError(f"dashboard did not start:\n{log_path.read_text()}")
        time.sleep(0.3)
    yield {"url": url, "log": log_path, "proc": proc}
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    _write_load_times()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Session:
    """One browser tab on the dashboard, collecting console errors and page errors."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 2000})
        self.url = url
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text} @ {m.location.get('url')}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def footer(self) -> str:
        cap = self.page.get_by_text(FOOTER)
        return cap.first.inner_text() if cap.count() else ""

    def wait_loaded(self, old: str) -> dict:
        self.page.wait_for_function(LOADED_JS, arg=old, timeout=LOAD_TIMEOUT_MS)
        m = FOOTER.search(self.footer())
        assert m, self.footer()
        return {"points": int(m.group(1)), "digest": m.group(2), "server_s": float(m.group(3)), "snapshot": m.group(4)}

    def open_root(self) -> tuple[dict, float]:
        t0 = time.perf_counter()
        self.page.goto(self.url + "/")
        info = self.wait_loaded("")
        return info, time.perf_counter() - t0

    def goto(self, title: str) -> tuple[dict, float]:
        old = self.footer()
        t0 = time.perf_counter()
        self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        info = self.wait_loaded(old)
        return info, time.perf_counter() - t0

    def act(self, fn) -> dict:
        """Change a widget and wait for the rerun it causes."""
        old = self.footer()
        fn(self.page)
        return self.wait_loaded(old)

    def assert_clean(self, where: str) -> None:
        exc = self.page.get_by_test_id("stException")
        assert exc.count() == 0, f"{where}: Streamlit exception in the page:\n" + "\n".join(exc.all_inner_texts())
        errs = self.page.get_by_test_id("stAlertContentError")
        assert errs.count() == 0, f"{where}: error shown:\n" + "\n".join(errs.all_inner_texts())
        assert not self.errors, f"{where}: browser errors:\n" + "\n".join(self.errors)

    def main_chart_has_marks(self) -> int:
        """Distinct colours in the screenshot of the first chart (a blank or axis-only chart has few)."""
        from PIL import Image

        chart = self.page.get_by_test_id("stVegaLiteChart").first
        chart.scroll_into_view_if_needed()
        img = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
        return len(set(img.getdata()))


@pytest.fixture()
def session(browser, server):
    s = Session(browser, server["url"])
    yield s
    s.page.close()


def _pill(label: str, option: str):
    def click(page):
        group = page.get_by_test_id("stButtonGroup").filter(has=page.get_by_text(label, exact=True))
        group.get_by_role("button", name=option, exact=True).click()
    return click


def _radio(label: str, option: str):
    def click(page):
        page.get_by_test_id("stRadio").filter(has=page.get_by_text(label, exact=True)) \
            .get_by_text(option, exact=True).click()
    return click


def _select(label: str, option: str):
    def click(page):
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
        page.get_by_role("option", name=option, exact=True).click()
    return click


FILTERS = {  # page -> (what the filter is, action)
    "campaign": ("technique: drop afm", _pill("Techniques", "afm")),
    "soc_profiles": ("series: drop cumulative", _pill("Series", "cumulative")),
    "sample": ("sample: C-CH50", _select("Sample", "C-CH50")),
    "afm_maps": ("sample: C-CH50", _select("Sample", "C-CH50")),
    "afm_pixels": ("mask: particle 1", _select("Mask", "particle 1")),
    "gitt": ("direction: drop discharge", _pill("Direction", "discharge")),
    "diffraction": ("branch: drop discharge", _pill("Branch", "discharge")),
    "nexafs": ("edge: O_K", _radio("Edge", "O_K")),
    "correlations": ("series: polished", _radio("Series", "polished")),
    "findings": ("claims: drop claim 1", _pill("Claims", "1")),
}


def _raw_files(page) -> int:
    text = page.get_by_test_id("stMetric").filter(has_text="raw files").inner_text()
    return int(re.findall(r"\d+", text)[-1])


def _write_load_times() -> None:
    if not LOAD_TIMES:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "load_times.json").write_text(json.dumps(LOAD_TIMES, indent=1), encoding="utf-8")
    print("\n[dashboard] page load times (browser: click → charts drawn; server: script run)")
    nan = float("nan")
    for page, t in LOAD_TIMES.items():
        print(f"  {page:14s} browser {t.get('browser_s', nan):.2f} s   server {t.get('server_s', nan):.2f} s   "
              f"filter {t.get('filter_s', nan):.2f} s   direct URL {t.get('direct_url_s', nan):.2f} s   "
              f"points {t.get('points', 0)}")


# ------------------------------------------------------------------------------------------ tests
def test_cli_exposes_dashboard_command():
    from socscope.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--help"])
    assert exc.value.code == 0


def test_lineage_query_traces_a_point_to_raw_file_reader_and_parameters(demo):
    """What the lineage table of the Correlations page shows, checked without the browser."""
    from socscope.dashboard import data as D

    root, campaign = demo
    cat = D.Catalog(campaign.resolve(campaign.storage.warehouse))
    try:
        row = cat.query("select * from correlations where n_interpolated = 0 and feature_x <> 'soc_pct' "
                        "order by abs(pearson_r) desc limit 1").iloc[0]
        pts = D.feature_values(cat, row.feature_x, row.samples.split(","))
        assert len(pts) == row.n
        lin = cat.query(D.LINEAGE_SQL, [list(pts.profile_key)])
        assert len(lin) and lin.original_name.notna().all() and lin.reader.notna().all()
        assert lin.params_id.notna().all() and lin.values_json.notna().all()
    finally:
        cat.close()


def test_every_page_loads_plots_data_and_filters(session, server):
    info, dt = session.open_root()
    LOAD_TIMES["(first load)"] = {"browser_s": round(dt, 3), "server_s": info["server_s"], "points": info["points"]}
    for slug, title in PAGES:
        info, dt = session.goto(title) if slug != "campaign" else session.goto("Campaign")
        session.assert_clean(slug)
        assert info["points"] > 0, f"{slug}: the main plot is empty"
        assert session.main_chart_has_marks() > 12, f"{slug}: the main chart looks blank"
        session.page.screenshot(path=str(OUT / f"{slug}.png"), full_page=True)
        what, action = FILTERS[slug]
        t0 = time.perf_counter()
        after = session.act(action)
        t_filter = time.perf_counter() - t0
        session.assert_clean(f"{slug} after filter {what}")
        assert after["digest"] != info["digest"], f"{slug}: filter '{what}' did not change the main plot"
        session.page.screenshot(path=str(OUT / f"{slug}-filtered.png"), full_page=True)
        LOAD_TIMES[slug] = {"browser_s": round(dt, 3), "server_s": info["server_s"], "points": info["points"],
                            "filter_s": round(t_filter, 3), "points_after_filter": after["points"]}
    log = server["log"].read_text(encoding="utf-8")
    assert "Traceback" not in log and "Uncaught" not in log, log


def _open_operations_from_the_campaign_page(session) -> str:
    """The campaign page counts the quarantined files and warnings and links to the page that lists
    them; following the link opens that page. Returns the campaign page's text."""
    session.open_root()
    session.assert_clean("campaign")
    text = session.page.get_by_test_id("stMain").inner_text()
    old = session.footer()
    session.page.get_by_test_id("stPageLink").get_by_text("Quarantine, warnings and last runs").click()
    session.wait_loaded(old)
    session.assert_clean("operations")
    assert session.page.get_by_test_id("stHeading").first.inner_text().startswith("Quarantine, warnings")
    return text


def test_campaign_page_counts_the_quarantine_and_its_page_shows_the_reason(session):
    campaign = _open_operations_from_the_campaign_page(session)
    quarantined = int(re.search(r"(\d+) quarantined file", campaign).group(1))
    text = session.page.get_by_test_id("stMain").inner_text()
    assert "Quarantine" in text
    # the unreadable file of the fixture (absent when SOCSCOPE_DASHBOARD_TEST_DIR points elsewhere)
    if not os.environ.get("SOCSCOPE_DASHBOARD_TEST_DIR"):
        assert quarantined >= 1
        assert session.page.get_by_text("C-PRI_loc09_esm.ibw").count() >= 1


def test_the_demo_warnings_are_counted_on_the_campaign_page_and_listed_on_their_page(session):
    """The demo's mislabelled sample (C-CH50X: label 50 %, cycler ~0 %) and its uncorrected PFM map are
    warnings, counted on the campaign page and listed with the file and the words of the message."""
    campaign = _open_operations_from_the_campaign_page(session)
    assert int(re.search(r"(\d+) warning", campaign).group(1)) >= 2
    main = session.page.get_by_test_id("stMain")
    assert "Warnings" in main.inner_text()
    tables = main.get_by_test_id("stTable")
    mismatch = tables.get_by_role("row").filter(has_text="soc_mismatch").filter(has_text="C-CH50X")
    assert mismatch.count() == 1 and "labelled 50.0 %" in mismatch.inner_text(), mismatch.all_inner_texts()
    esm = tables.get_by_role("row").filter(has_text="esm_uncorrected").filter(has_text="C-CH50X_loc01_pfm.ibw")
    assert esm.count() == 1 and "esm_not_computed_no_q_source" in esm.inner_text(), esm.all_inner_texts()
    session.page.screenshot(path=str(OUT / "operations-warnings.png"), full_page=True)


def test_correlations_page_ranks_only_measured_pairs(session, demo):
    """The ranked table lists only pairs with 3 measured points per side: in the demo every diffraction
    and GITT value of the cumulative series is interpolated from the operando/GITT cells (r = ±1 against
    SOC by construction), so no sxpd or echem feature may be in it; and it shows n and the interval."""
    session.open_root()
    session.goto("Correlations")
    session.assert_clean("correlations")
    text = session.page.get_by_test_id("stMain").inner_text()
    assert "Strongest correlations" in text and "pairs ranked" in text
    table = session.page.get_by_test_id("stTable").first
    header = table.get_by_role("row").first.inner_text()
    assert all(col in header for col in ("n_measured_x", "n_measured_y", "ci_low", "ci_high")), header
    rows = table.get_by_role("row").all_inner_texts()[1:]
    assert rows and not [r for r in rows if "sxpd:" in r or "echem:" in r], rows


def test_correlation_cell_click_shows_scatter_and_lineage(session):
    session.open_root()
    session.goto("Correlations")
    heading = re.compile(r" vs .* · r = ")
    before = session.page.get_by_text(heading).first.inner_text()
    chart = session.page.get_by_test_id("stVegaLiteChart").first
    box = chart.locator("canvas, svg.marks").first.bounding_box()
    # a cell near the middle of the matrix
    info = session.act(lambda page: page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45))
    session.assert_clean("correlations after a click")
    after = session.page.get_by_text(heading).first.inner_text()
    assert info["points"] > 0
    assert after != before, "clicking a matrix cell did not pick that feature pair"
    assert session.page.get_by_test_id("stVegaLiteChart").count() >= 2  # the scatter
    main = session.page.get_by_test_id("stMain").inner_text()
    assert "Lineage of a point" in main and "parameter sets" in main
    assert session.page.get_by_test_id("stDataFrame").count() >= 1  # raw file, reader, params_id per row
    session.page.screenshot(path=str(OUT / "correlations-cell.png"), full_page=True)


def test_pages_keep_answering_while_a_run_writes(session, demo, server, tmp_path):
    """A campaign run (new AFM files: intake, process, finalize, commits) writes the warehouse while
    pages are loaded one after the other."""
    from socscope.demo import write_demo
    from tasks import pipeline

    root, campaign = demo
    extra = tmp_path / "extra"
    write_demo(extra, "small", seed=4242, techniques=["afm"])
    # real maps only: the demo also writes macOS "._" companions, which the ignore lists skip (not counted)
    src = sorted(f for f in (extra / "share" / "afm" / "C-CH50").glob("*.ibw") if not f.name.startswith("._"))[:2]
    assert src
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for f in src:
                shutil.copy(f, root / "share" / "afm" / "C-CH50" / f"late_{f.name}")
            pipeline.run_local(campaign, ["afm"], flow_run_id="dashboard-concurrent")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            done.set()

    info, _ = session.open_root()
    first_snapshot = info["snapshot"]
    raw_before = _raw_files(session.page)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    rounds, seen = 0, {first_snapshot}
    titles = [t for _, t in PAGES]
    t_start = time.monotonic()
    while not done.is_set() or rounds < 3:
        title = titles[rounds % len(titles)]
        info, dt = session.goto(title) if rounds % len(titles) else session.open_root()
        session.assert_clean(f"{title} during a run")
        assert info["points"] > 0, f"{title}: empty during a run"
        assert dt < 30, f"{title} took {dt:.1f} s during a run"
        seen.add(info["snapshot"])
        rounds += 1
        if time.monotonic() - t_start > 150:
            break
    thread.join(timeout=120)
    assert not errors, errors
    assert done.is_set(), "the campaign run did not finish"
    info, _ = session.open_root()
    seen.add(info["snapshot"])
    assert info["snapshot"] != first_snapshot, "the dashboard did not pick up the new snapshot"
    assert _raw_files(session.page) >= raw_before + len(src), "the new raw files are not counted"
    session.page.screenshot(path=str(OUT / "campaign-after-run.png"), full_page=True)
    print(f"\n[dashboard] {rounds} page loads during the run; snapshots seen: {sorted(seen)}")
    log = server["log"].read_text(encoding="utf-8")
    assert "Traceback" not in log and "Uncaught" not in log, log


# Streamlit's frontend probes <page>/_stcore/health and /host-config before it falls back to the
# server root when a page is opened by its own URL: those 404s are its base-path detection, not ours.
BASE_PATH_PROBE = re.compile(r"status of 404 .*@ http://127\.0\.0\.1:\d+/\w+/_stcore/(health|host-config)$")


def test_pages_open_from_their_own_url(session):
    for slug, title in PAGES[1:]:  # the default page (Campaign) lives at "/"
        session.errors.clear()
        t0 = time.perf_counter()
        session.page.goto(f"{session.url}/{slug}")
        info = session.wait_loaded("")
        dt = time.perf_counter() - t0
        session.errors[:] = [e for e in session.errors if not BASE_PATH_PROBE.search(e)]
        session.assert_clean(f"/{slug}")
        heading = session.page.get_by_test_id("stHeading").first.inner_text()
        assert heading.startswith(title.split(" ")[0]), (slug, heading)
        assert info["points"] > 0
        LOAD_TIMES.setdefault(slug, {})["direct_url_s"] = round(dt, 3)


def test_the_findings_page_counts_the_quarantine_and_links_to_its_one_table(session):
    """The quarantined files are listed on one page (operations); the findings page counts them and links
    there, instead of a second table of its own."""
    session.open_root()
    session.goto("Findings & quality")
    session.assert_clean("findings")
    text = session.page.get_by_test_id("stMain").inner_text()
    assert re.search(r"\d+ quarantined file\(s\)|no file quarantined", text), text[-2000:]
    assert "C-PRI_loc09_esm.ibw" not in text or os.environ.get("SOCSCOPE_DASHBOARD_TEST_DIR")
    link = session.page.get_by_test_id("stPageLink").get_by_text("Quarantine, warnings and last runs")
    assert link.count() == 1
