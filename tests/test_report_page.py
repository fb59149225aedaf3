"""The report page in a real browser: headless Chromium renders report.html from a file://
URL, offline, to a screenshot; the DOM it builds has no script, and (with selenium and
chromium-driver) every embedded plot decodes and nothing is fetched.

Skips cleanly when /usr/bin/chromium is missing (and the selenium part when
/usr/bin/chromedriver or selenium is missing). The report is built from the synthetic
records of helpers.synthetic_results(), with a hostile model id.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.report import write_report
from helpers import HOSTILE, synthetic_results

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not CHROMIUM.exists():
    pytest.skip("chromium is not installed", allow_module_level=True)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]
WIDTH, HEIGHT = 1280, 2000


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("page")
    run = synthetic_results(root / "runs", model_id=HOSTILE)
    html, _ = write_report([run], root / "out", title=f"PoC report for {HOSTILE}")
    return html


def chromium(*args: str, profile: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_screenshot_renders(report, tmp_path):
    shot = tmp_path / "shot.png"
    r = chromium(f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
                 report.resolve().as_uri(), profile=tmp_path / "profile")
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000
    from PIL import Image  # matplotlib depends on pillow

    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        # the FAIL banner's background (#ffebe9) and the PASS badge's (#dafbe1) are drawn
        painted = {c for _, c in colours}
        assert (0xff, 0xeb, 0xe9) in painted and (0xda, 0xfb, 0xe1) in painted
        assert len(colours) > 200  # text, tables and plots, not a blank page


def test_dom_has_no_script_and_shows_hostile_text_as_text(report, tmp_path):
    r = chromium("--dump-dom", report.resolve().as_uri(), profile=tmp_path / "profile")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert '<section id="verdict">' in dom and '<section id="provenance">' in dom
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not CHROMEDRIVER.exists():
        pytest.skip("chromium-driver is not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in FLAGS + [f"--window-size={WIDTH},{HEIGHT}",
                        f"--user-data-dir={tmp_path_factory.mktemp('profile')}"]:
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    yield d
    d.quit()


def test_plots_decode_and_nothing_is_fetched(driver, report):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver.get(report.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    sizes = driver.execute_script(
        "return Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == 4 and all(ok and w > 300 and h > 100 for ok, w, h in sizes), sizes
    assert driver.execute_script("return document.scripts.length") == 0
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 -- the hostile id never ran
    banner = driver.find_element(By.ID, "overall-verdict").text
    assert banner.startswith("FAIL")
    assert HOSTILE in driver.title
