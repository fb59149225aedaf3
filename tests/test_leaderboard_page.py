"""The leaderboard page in a real browser: headless Chromium driven by Selenium.

Skips cleanly when /usr/bin/chromium, /usr/bin/chromedriver or selenium is missing.
The page is built by `sllm-bench leaderboard --html` from record files, one of which has a
hostile model id written into it directly, and served by http.server on 127.0.0.1.
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
from helpers import quality_record, speed_record

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_GLOBAL = "<img src=x onerror=window.__pwned=1>"
HOSTILE_BACKEND = "<svg onload=window.__pwned2=1>"
# (model, backend, device, decode tok/s, peak RSS MB, model MB)
ROWS = [("smollm2-135m", "llama_cpp", "host", 180.0, 210.0, 94.0),
        ("smollm2-135m", "onnxruntime", "host", 290.0, 260.0, 86.0),
        ("gemma3-270m", "llama_cpp", "host", 90.0, 390.0, 241.0),
        ("smollm2-135m", "llama_cpp", "laptop-2c-4g", 120.0, 205.0, 94.0),
        ("gemma3-270m", "llama_cpp", "laptop-2c-4g", 60.0, 380.0, 241.0),
        (HOSTILE, "llama_cpp", "laptop-2c-4g", 30.0, 300.0, 150.0),
        (HOSTILE_GLOBAL, HOSTILE_BACKEND, "laptop-2c-4g", 20.0, 310.0, 160.0)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lb")
    for seq, (model, backend, device, decode, rss, size) in enumerate(ROWS):
        rec = speed_record("placeholder", backend, device, decode=decode, rss=rss, size=size,
                           ttft=2000.0 / decode, prefill=20 * decode, seq=seq)
        path = root / "runs" / "r1" / "records" / f"{seq}.json"
        write_json(path, rec)
        data = json.loads(path.read_text())
        data["model"]["id"] = model  # the catalogue forbids such ids; a results file may not
        path.write_text(json.dumps(data))
    for task in ("arc_easy", "wikitext2"):
        write_json(root / "runs" / "q1" / "records" / f"{task}.json",
                   quality_record(task, model="smollm2-135m"))
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


def make_driver(tmp_dir: Path):
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1500,1300",
                f"--user-data-dir={tmp_dir}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


@pytest.fixture
def page(driver, url):
    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") != "loading")
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
    return driver


def column(driver, key: str) -> list[str]:
    return [td.text for td in driver.find_elements(By.CSS_SELECTOR, f"#rows td[data-col={key}]")]


def test_rows_and_chart_are_shown(page):
    assert len(page.find_elements(By.CSS_SELECTOR, "#rows tr")) == len(ROWS)
    assert sorted(column(page, "model")) == sorted(r[0] for r in ROWS)
    assert column(page, "decode")[0] == "290.0"  # host first, its best row ranked 1
    assert column(page, "rank")[0] == "1" and column(page, "score")[0] == "100.0"
    assert len(page.find_elements(By.CSS_SELECTOR, "#chart .point")) == len(ROWS)
    assert page.find_element(By.ID, "count").text == f"{len(ROWS)} of {len(ROWS)} rows"
    assert "geometric mean" in page.find_element(By.ID, "score-def").text.lower()
    quality = page.find_elements(By.CSS_SELECTOR, "#rows td[data-col=quality]")
    (cell,) = [q for q in quality if q.text != "\u2013"]  # smollm2 / llama_cpp / host
    assert cell.text == "arc_easy acc 0.750\nwikitext2 ppl 21.5"
    assert cell.get_attribute("title") == ("arc_easy (4 items): acc 0.750\n"
                                           "wikitext2: token_perplexity 21.5, bits_per_byte 0.900")


def test_clicking_a_header_sorts(page):
    header = page.find_element(By.CSS_SELECTOR, "th[data-key=decode]")
    values = sorted(float(r[3]) for r in ROWS)
    header.click()
    assert [float(v) for v in column(page, "decode")] == values
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [float(v) for v in column(page, "decode")] == values[::-1]
    assert header.get_attribute("aria-sort") == "descending"
    page.find_element(By.CSS_SELECTOR, "th[data-key=device]").click()
    assert column(page, "device") == ["host"] * 3 + ["laptop-2c-4g"] * 4


def test_filters_by_device_backend_and_model_size(page):
    Select(page.find_element(By.ID, "f-device")).select_by_value("laptop-2c-4g")
    assert set(column(page, "device")) == {"laptop-2c-4g"} and len(column(page, "device")) == 4
    assert len(page.find_elements(By.CSS_SELECTOR, "#chart .point")) == 4
    Select(page.find_element(By.ID, "f-backend")).select_by_value("llama_cpp")
    assert len(column(page, "model")) == 3
    size = page.find_element(By.ID, "f-size")
    size.send_keys("100")
    assert column(page, "model") == ["smollm2-135m"]
    assert page.find_element(By.ID, "count").text == f"1 of {len(ROWS)} rows"


def test_hostile_strings_are_text_and_run_nothing(page):
    cells = column(page, "model")
    assert HOSTILE in cells and HOSTILE_GLOBAL in cells
    assert HOSTILE_BACKEND in column(page, "backend")
    assert page.find_elements(By.CSS_SELECTOR, "img") == []
    assert page.find_elements(By.CSS_SELECTOR, "#board svg, [onerror], [onload]") == []
    assert page.execute_script("return [window.__pwned, window.__pwned2]") == [None, None]
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text
    options = [o.text for o in page.find_elements(By.CSS_SELECTOR, "#f-backend option")]
    assert HOSTILE_BACKEND in options


def test_screenshot(page, tmp_path):
    shot = tmp_path / "leaderboard.png"
    assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_page_without_its_json_says_so(driver, tmp_path):
    from harness.leaderboard.publish import write_page

    write_page(tmp_path, {"rows": []})
    (tmp_path / "leaderboard.json").unlink()
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "error")
        assert "Could not load leaderboard.json: HTTP 404" in driver.find_element(
            By.ID, "error").text
    finally:
        server.shutdown()
        server.server_close()
