"""Every verdict, report and leaderboard row says where it was measured: on the profile's
own hardware ("measured on") or on another host ("emulated on ...")."""

from __future__ import annotations

import pytest

from harness.records.placement import EMULATED, MEASURED, placement
from harness.specs import DeviceProfile

HOST = {"id": "0123456789abcdef", "cpu_model": "Board CPU", "cores_logical": 4,
        "memory_bytes": 8192 * 2**20, "os": "Linux"}


def test_a_profile_without_hardware_is_emulated_whatever_the_cores():
    p = placement({"name": "laptop-2c-4g", "cores": 4}, HOST)
    assert p["on"] == EMULATED and p["text"].startswith("emulated on Board CPU, 4 cores")
    assert "not a measurement of the target device" in p["text"]


def test_the_host_profile_is_this_machine():
    p = placement({"name": "host"}, HOST)
    assert p["on"] == MEASURED and p["text"].startswith("measured on: Board CPU, 4 cores, "
                                                       "8192 MB, Linux, fingerprint 0123")


def test_matching_hardware_is_measured_on_the_target():
    hw = {"cpu_model": "Board CPU", "cores": 4, "memory_mb": 8000, "os": "Linux"}
    assert placement({"name": "board", "hardware": hw}, HOST)["on"] == MEASURED


@pytest.mark.parametrize("hw, why", [
    ({"cpu_model": "Other CPU"}, "CPU 'Board CPU', not 'Other CPU'"),
    ({"cores": 8}, "4 cores, not 8"), ({"memory_mb": 4096}, "8192 MB, not 4096 MB"),
    ({"fingerprint": "ffffffffffffffff"}, "fingerprint 0123456789abcdef, not ffff")])
def test_other_hardware_is_emulated_and_says_how(hw, why):
    p = placement({"name": "board", "hardware": hw}, HOST)
    assert p["on"] == EMULATED and why in p["text"]


def test_profiles_validate_their_hardware():
    DeviceProfile(name="b", hardware={"cpu_model": "X", "cores": 4})
    with pytest.raises(ValueError):
        DeviceProfile(name="b", hardware={"cores": 0})
    with pytest.raises(ValueError):
        DeviceProfile(name="b", hardware={"gpu": "none"})


def test_the_verdict_and_its_table_say_where(tmp_path):
    from harness.verdict import markdown_table, verdict

    env = {"host": HOST}
    for hw, word in ((None, "emulated on"), ({"cpu_model": "Board CPU"}, "measured on:")):
        dev = DeviceProfile(name="board", hardware=hw, budgets=[{"metric": "load_s",
                                                                  "max": 10}])
        doc = verdict([], dev, model={"id": "m", "sha256": None}, backend="fake",
                      run_id="r", env=env, host_warnings=[])
        assert doc["measured_on"]["text"].startswith(word)
        assert word in markdown_table(doc)


def test_the_report_recomputes_where_from_profile_and_host(tmp_path):
    import json

    from conftest import run_cli
    from helpers import ENV, synthetic_results

    run = synthetic_results(tmp_path)
    for path in run.glob("verdict*.json"):
        doc = json.loads(path.read_text())
        doc["measured_on"] = {"on": "measured", "text": "measured on: a claim"}
        if path.name.endswith("llama_cpp.json"):  # this profile stands for this very host
            doc["device"]["hardware"] = {"fingerprint": ENV["host"]["id"]}
        path.write_text(json.dumps(doc))
    r = run_cli("report", str(run), "-o", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "a claim" not in md
    assert md.count("**measured on: AMD EPYC 9R14") == 1 and md.count("**emulated on") == 1
