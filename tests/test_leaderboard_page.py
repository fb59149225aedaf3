"""The leaderboard page in a real browser: headless Chromium driven by Selenium.

Skips cleanly when /usr/bin/chromium, /usr/bin/chromedriver or selenium is missing.
The page is built by `sllm-bench leaderboard --html` from record files: two backends and
two ONNX ports (one faithful, one broken) of one model on laptop-2c-4g's canonical
workload, a p512 row of another workload, a contended row, the same profile on a second
host, and hostile model ids written into record files directly. It is opened from disk
(file://, the data embedded in index.html) and through http.server on 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from conftest import run_cli
from harness.records import write_json
from leaderboard_fixtures import CONTENDED, HOST, parity, quality, speed

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_GLOBAL = "</script><img src=x onerror=window.__pwned=1><!--"
HOSTILE_BACKEND = "<svg onload=window.__pwned2=1>"
CANON = "laptop-2c-4g \u00b7 prompt 128 \u00b7 gen 64 \u00b7 threads 2 \u00b7 depth 0"


def records() -> list:
    recs = [
        speed("smollm2", "llama_cpp", decode=150.0, rss=210.0, seq=0),
        speed("smollm2", "onnxruntime", precision="gguf", decode=170.0, rss=260.0, seq=1),
        speed("smollm2", "onnxruntime", precision="int4-rtn", decode=300.0, rss=240.0, seq=2),
        speed("smollm2", "ort_genai", precision="gguf", decode=190.0, rss=250.0, seq=3,
              conditions=CONTENDED),
        speed("smollm2", "llama_cpp", prompt=512, gen=128, decode=120.0, rss=230.0, seq=4),
        speed("smollm2", "llama_cpp", decode=90.0, rss=200.0, seq=5, host_id="0123456789abcdef",
              cpu="Other laptop CPU"),
        speed("smollm2", "llama_cpp", device=HOST, threads=2, decode=160.0, seq=6),
        speed(HOSTILE, "llama_cpp", decode=40.0, rss=300.0, seq=7),
        speed(HOSTILE_GLOBAL, HOSTILE_BACKEND, decode=30.0, rss=310.0, seq=8),
        speed("smollm2", "llama_cpp", decode=140.0, rss=210.0, seq=9,
              options={"flash_attn": "off"}),  # --set: its own row
        parity(precision="gguf", kl=0.004, top1=0.98, model="smollm2", run_id="p1"),
        parity(precision="int4-rtn", kl=0.349, top1=0.624, ppl=32.2, model="smollm2",
               run_id="p2"),
    ]
    for i, (backend, precision, acc) in enumerate([
            ("llama_cpp", None, (1.0, 1.0, 0.0, 1.0)),
            ("onnxruntime", "gguf", (1.0, 1.0, 0.0, 1.0)),
            ("onnxruntime", "int4-rtn", (0.0, 1.0, 0.0, 0.0))]):
        recs.append(quality("mc_en", acc, "smollm2", backend, precision=precision,
                            run_id=f"q{i}"))
    for i, model in enumerate((HOSTILE, HOSTILE_GLOBAL)):
        recs.append(quality("mc_en", (1.0, 1.0), model, run_id=f"qh{i}"))
    return recs


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lb")
    for i, rec in enumerate(records()):
        write_json(root / "runs" / rec["run_id"] / "records" / f"{i:03d}.json", rec)
    r = run_cli("leaderboard", str(root / "runs"), "-o", str(root / "lb.json"),
                "--html", str(root / "site"))
    assert r.returncode == 0, r.stderr
    return root / "site"


@pytest.fixture(scope="module")
def url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def make_driver(tmp_dir: Path, width: int = 1400):
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={width},1300",
                "--allow-file-access-from-files", f"--user-data-dir={tmp_dir}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


def open_page(driver, address: str, state: str = "ready"):
    driver.get(address)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") != "loading")
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == state
    return driver


@pytest.fixture
def page(driver, site):
    return open_page(driver, site.joinpath("index.html").as_uri())


def rows_of(section) -> list[dict[str, str]]:
    out = []
    for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr"):
        out.append({td.get_attribute("data-col"): td.text
                    for td in tr.find_elements(By.TAG_NAME, "td")})
    return out


def canonical_laptop(driver, host: str | None = None):
    """The laptop profile's headline group; its rows were measured on this machine (the
    fixture's records carry environment()'s host fingerprint)."""
    if host is None:
        from harness.measure.environment import environment

        host = environment()["host"]["id"]
    (section,) = [s for s in driver.find_elements(By.CSS_SELECTOR, "section.group")
                  if s.get_attribute("data-group") == f"laptop-2c-4g \u00b7 emulated \u00b7 host {host} "
                  "\u00b7 p128 g64 t2 d0"]
    return section


# ------------------------------------------------------------------ done-when tests
def test_opened_from_disk_the_page_shows_its_rows(page, site):
    assert page.current_url.startswith("file://")
    assert (site / "leaderboard.json").is_file()  # still beside it, for machines
    section = canonical_laptop(page)
    assert section.find_element(By.TAG_NAME, "h2").text.startswith(CANON)
    models = [r["model"] for r in rows_of(section)]
    assert models.count("smollm2") == 5 and HOSTILE in models
    assert page.find_element(By.ID, "error").get_attribute("hidden") == "true"


def test_broken_port_is_unranked_and_says_why(page):
    rows = {r["backend"]: r for r in rows_of(canonical_laptop(page)) if r["model"] == "smollm2"}
    broken = rows["onnxruntime (int4-rtn)"]
    assert broken["rank"] == "\u2013" and broken["score"] == "\u2013"
    assert broken["status"].startswith("not ranked\nparity fails against the GGUF: mean KL "
                                       "0.349 (max 0.05), top-1 0.624 (min 0.9)")
    assert "quality below floor: mc_en acc 0.25 (needs >= 0.5)" in broken["status"]
    assert broken["parity"] == "KL 0.3490 \u00b7 top-1 0.624 \u00b7 ppl +32.2%"
    faithful = rows["onnxruntime (gguf)"]
    assert faithful["rank"] != "\u2013" and faithful["status"] == "ranked"
    assert faithful["quality"] == "mc_en acc 0.750 \u00b10.250"  # mean and standard error
    contended = rows["ort_genai (gguf)"]
    assert contended["status"] == ("not ranked\nmeasured while contended: other processes "
                                   "used 0.8 of the 2 pinned cores")
    assert "(via onnxruntime)" in contended["quality"]  # ort_genai cannot score
    assert rows["llama_cpp"]["rank"] in ("1", "2")
    assert rows["llama_cpp flash_attn=off"]["decode"] == "140.0"  # a --set row, not folded
    # the rule is written next to the score
    rules = page.find_element(By.ID, "rules").text
    assert "mean KL <= 0.05 nats and top-1 agreement >= 0.9" in rules
    assert "Conditions not recorded: shown, marked, not ranked." in rules


def test_two_workloads_are_never_ranked_against_each_other(page):
    headline = page.find_elements(By.CSS_SELECTOR, "section.group")
    assert all("canonical" in s.get_attribute("class").split() for s in headline)
    assert not any("p512" in s.get_attribute("data-group") for s in headline)
    Select(page.find_element(By.ID, "f-view")).select_by_value("all")
    sections = page.find_elements(By.CSS_SELECTOR, "section.group")
    (p512,) = [s for s in sections if "p512 g128" in s.get_attribute("data-group")]
    assert "other workload" in p512.find_element(By.TAG_NAME, "h2").text
    (row,) = rows_of(p512)
    assert (row["decode"], row["rank"], row["score"]) == ("120.0", "1", "100.0")
    for s in sections:  # every group ranks from 1 on its own rows
        ranks = sorted(int(r["rank"]) for r in rows_of(s) if r["rank"] != "\u2013")
        assert not ranks or ranks[0] == 1


def test_hosts_stay_apart_with_their_fingerprint(page):
    other = canonical_laptop(page, "0123456789abcdef")
    assert "host 0123456789abcdef: Other laptop CPU" in other.find_element(
        By.CLASS_NAME, "group-meta").text
    (row,) = rows_of(other)
    assert (row["decode"], row["rank"]) == ("90.0", "1")


def test_chart_draws_the_pareto_front_of_ranked_rows(page):
    section = canonical_laptop(page)
    points = section.find_elements(By.CSS_SELECTOR, "svg.chart circle.point")
    assert len(points) == len(rows_of(section))
    assert len(section.find_elements(By.CSS_SELECTOR, "circle.point.unranked")) == 3
    assert section.find_elements(By.CSS_SELECTOR, "svg.chart polyline.pareto")
    front = section.find_elements(By.CSS_SELECTOR, "circle.point.on-front")
    assert front and all("ranked" in p.get_attribute("class").split() for p in front)


def test_table_fits_a_1400_px_window(page):
    sizes = page.execute_script(
        "return [...document.querySelectorAll('.table-box')].map(b => [b.scrollWidth, "
        "b.clientWidth]).concat([[document.documentElement.scrollWidth, window.innerWidth]])")
    assert all(scroll <= client for scroll, client in sizes), sizes
    cell = canonical_laptop(page).find_element(By.CSS_SELECTOR, "td[data-col=quality]")
    assert cell.size["width"] < 300  # the quality cell wraps instead of widening the table


def test_hostile_strings_are_text_and_run_nothing(page):
    Select(page.find_element(By.ID, "f-view")).select_by_value("all")
    cells = [td.text for td in page.find_elements(By.CSS_SELECTOR, "td[data-col=model]")]
    assert HOSTILE in cells and HOSTILE_GLOBAL in cells
    backends = [td.text for td in page.find_elements(By.CSS_SELECTOR, "td[data-col=backend]")]
    assert HOSTILE_BACKEND in backends
    assert page.find_elements(By.CSS_SELECTOR, "img") == []
    assert page.find_elements(By.CSS_SELECTOR, "table svg, [onerror], [onload]") == []
    assert page.execute_script("return [window.__pwned, window.__pwned2]") == [None, None]
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text
    options = [o.text for o in page.find_elements(By.CSS_SELECTOR, "#f-backend option")]
    assert HOSTILE_BACKEND in options


# ------------------------------------------------------------------ the rest of the page
def test_served_over_http_too_and_sorting_works(driver, url):
    page = open_page(driver, url)
    section = canonical_laptop(page)
    header = section.find_element(By.CSS_SELECTOR, "th[data-key=decode]")
    header.click()
    section = canonical_laptop(page)
    values = [float(r["decode"]) for r in rows_of(section)]
    assert values == sorted(values)
    assert section.find_element(By.CSS_SELECTOR, "th[data-key=decode]").get_attribute(
        "aria-sort") == "ascending"


def test_filters_backend_unranked_and_size(page):
    Select(page.find_element(By.ID, "f-backend")).select_by_value("onnxruntime")
    assert {r["backend"] for r in rows_of(canonical_laptop(page))} == {
        "onnxruntime (gguf)", "onnxruntime (int4-rtn)"}
    page.find_element(By.ID, "f-unranked").click()
    assert [r["backend"] for r in rows_of(canonical_laptop(page))] == ["onnxruntime (gguf)"]
    page.find_element(By.ID, "f-size").send_keys("1")
    assert page.find_elements(By.CSS_SELECTOR, "section.group") == []
    assert page.find_element(By.ID, "count").text.startswith("0 of ")


def test_screenshot(page, tmp_path):
    shot = tmp_path / "leaderboard.png"
    assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_page_without_data_says_so(driver, tmp_path):
    from harness.leaderboard.publish import write_page

    write_page(tmp_path, {"rows": []})
    (tmp_path / "leaderboard.json").unlink()
    html = (tmp_path / "index.html").read_text()
    (tmp_path / "index.html").write_text(html.replace('{"rows": []}', ""))
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        open_page(driver, f"http://127.0.0.1:{server.server_address[1]}/", "error")
        assert "Could not load the leaderboard: HTTP 404" in driver.find_element(
            By.ID, "error").text
    finally:
        server.shutdown()
        server.server_close()


def test_embedded_data_cannot_close_its_script_block(site):
    html = (site / "index.html").read_text()
    block = html.split('<script id="leaderboard-data" type="application/json">')[1]
    data = block.split("</script>")[0]
    assert "<" not in data
    assert HOSTILE_GLOBAL in {row["model"]["id"] for row in json.loads(data)["rows"]}


def test_headline_keeps_profiles_without_a_canonical_workload(driver, tmp_path):
    """A profile whose records name no workload still shows in the default view."""
    old = {"name": "old-profile", "threads": 2, "budgets": []}
    for i, rec in enumerate([speed("a", seq=0), quality("mc_en", model="a"),
                             speed("b", device=old, seq=1)]):
        write_json(tmp_path / "runs" / f"{i}.json", rec)
    r = run_cli("leaderboard", str(tmp_path / "runs"), "-o", str(tmp_path / "lb.json"),
                "--html", str(tmp_path / "site"))
    assert r.returncode == 0, r.stderr
    page = open_page(driver, (tmp_path / "site" / "index.html").as_uri())
    sections = page.find_elements(By.CSS_SELECTOR, "section.group")
    assert [s.get_attribute("data-group").split(" ")[0] for s in sections] == \
        ["laptop-2c-4g", "old-profile"]
    assert "other workload" in sections[1].find_element(By.TAG_NAME, "h2").text
