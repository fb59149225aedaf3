"""Measurement conditions: fake sysfs trees (frequency drop, temperature, battery, RAPL
energy and its wrap-around, "not measured" with its reason) and real contention on this
machine's cores (a busy process beside a tiny run makes the record say contended)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import run_cli, write
from harness.measure import sysfs
from harness.measure.conditions import Monitor, energy_per_token, judge
from harness.records import read_record, record_files
from harness.specs import ConditionLimits


def put(root, rel, value):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"{value}\n")


def freq(root, cpu, mhz):
    put(root, f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", int(mhz * 1000))


def monitored(root, steps, limits=None):
    """A Monitor over `root`; each step (a function changing the tree) is followed by a
    sample; returns the window's summary."""
    m = Monitor([0, 1], limits or ConditionLimits(), base=root)
    m.start(None)
    for step in steps:
        step()
        m._sample()
    return m.window()


def test_nothing_exposed_is_not_measured_with_the_reason(tmp_path):
    c = monitored(tmp_path, [lambda: None])
    for key in ("frequency", "temperature", "power", "energy"):
        assert c[key].startswith("not measured: "), (key, c[key])
    assert "cpufreq" in c["frequency"] and "powercap" in c["energy"]
    assert c["state"] in ("ok", "contended")  # other CPU is real on this machine


def test_a_frequency_drop_is_throttled_with_the_evidence(tmp_path):
    put(tmp_path, "devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave")
    for c in (0, 1):
        freq(tmp_path, c, 3100)
    steps = [lambda: None] * 3 + [lambda: [freq(tmp_path, c, 2200) for c in (0, 1)]] * 3
    c = monitored(tmp_path, steps, ConditionLimits(other_cpu_max=64))
    assert c["state"] == "throttled"
    assert "frequency fell from 3.10 to 2.20 GHz (29%, limit 15%)" in c["evidence"]
    assert c["frequency"]["min_mhz"] == 2200 and c["frequency"]["governor"] == "powersave"
    # a single low reading is smoothed away, and a rise is not a fall
    for cpu in (0, 1):
        freq(tmp_path, cpu, 1000)
    steps = [lambda: None, lambda: [freq(tmp_path, c, 3100) for c in (0, 1)],
             lambda: [freq(tmp_path, c, 2000) for c in (0, 1)],
             lambda: [freq(tmp_path, c, 3100) for c in (0, 1)]] + [lambda: None] * 3
    c = monitored(tmp_path, steps, ConditionLimits(other_cpu_max=64))
    assert c["state"] == "ok", c["evidence"]


def test_temperature_above_the_profile_limit_is_throttled(tmp_path):
    put(tmp_path, "class/hwmon/hwmon0/name", "coretemp")
    put(tmp_path, "class/hwmon/hwmon0/temp1_label", "Package id 0")
    put(tmp_path, "class/hwmon/hwmon0/temp1_input", 71000)
    put(tmp_path, "class/thermal/thermal_zone0/type", "x86_pkg_temp")
    put(tmp_path, "class/thermal/thermal_zone0/temp", 60000)
    hot = lambda: put(tmp_path, "class/hwmon/hwmon0/temp1_input", 97500)  # noqa: E731
    c = monitored(tmp_path, [hot], ConditionLimits(other_cpu_max=64, temperature_max_c=95))
    assert c["state"] == "throttled"
    assert c["temperature"]["max_c"] == 97.5 and c["temperature"]["first_c"] == 71.0
    assert "coretemp/Package id 0 reached 98 °C (limit 95 °C)" in c["evidence"]
    # without a limit temperatures are recorded, not judged
    c = monitored(tmp_path, [hot], ConditionLimits(other_cpu_max=64))
    assert c["state"] == "ok" and c["temperature"]["max_c"] == 97.5


def test_battery_power_is_on_battery_unless_the_profile_allows_it(tmp_path):
    put(tmp_path, "class/power_supply/AC/type", "Mains")
    put(tmp_path, "class/power_supply/AC/online", 0)
    put(tmp_path, "class/power_supply/BAT0/type", "Battery")
    put(tmp_path, "class/power_supply/BAT0/status", "Discharging")
    put(tmp_path, "class/power_supply/BAT0/capacity", 55)
    c = monitored(tmp_path, [lambda: put(tmp_path, "class/power_supply/BAT0/capacity", 54)],
                  ConditionLimits(other_cpu_max=64))
    assert c["state"] == "on_battery" and c["power"] == {
        "source": "battery", "battery_percent_start": 55, "battery_percent_end": 54}
    assert c["evidence"] == ["ran on battery (power source: battery)"]
    c = monitored(tmp_path, [], ConditionLimits(other_cpu_max=64, allow_battery=True))
    assert c["state"] == "ok"
    put(tmp_path, "class/power_supply/AC/online", 1)  # plugged in: charging is fine
    assert monitored(tmp_path, [], ConditionLimits(other_cpu_max=64))["state"] == "ok"


def rapl(root, pkg_uj, dram_uj=None):
    z = "class/powercap/intel-rapl:0"
    put(root, f"{z}/name", "package-0")
    put(root, f"{z}/max_energy_range_uj", 1_000_000)
    put(root, f"{z}/energy_uj", pkg_uj)
    put(root, f"{z}:0/name", "core")  # inside the package figure: not added again
    put(root, f"{z}:0/energy_uj", 5)
    if dram_uj is not None:
        put(root, f"{z}:1/name", "dram")
        put(root, f"{z}:1/max_energy_range_uj", 1_000_000)
        put(root, f"{z}:1/energy_uj", dram_uj)


def test_rapl_energy_counts_across_a_wrap_and_gives_joules_per_token(tmp_path):
    rapl(tmp_path, 700_000, 10_000)
    steps = [lambda: rapl(tmp_path, 950_000, 20_000),
             lambda: rapl(tmp_path, 150_000, 30_000),   # the package counter wrapped
             lambda: rapl(tmp_path, 400_000, 40_000)]
    c = monitored(tmp_path, steps, ConditionLimits(other_cpu_max=64))
    assert c["energy"]["package_j"] == pytest.approx(0.7)  # 0.25 + 0.2 + 0.25 J
    assert c["energy"]["dram_j"] == pytest.approx(0.03)
    assert c["energy"]["zones"] == ["package-0", "dram"]
    e = energy_per_token(c, 70)
    assert e["j_per_token"] == pytest.approx(0.01) and e["tokens_per_j"] == pytest.approx(100)
    assert sysfs.energy_delta_uj(990, 10, 1000) == 20
    assert energy_per_token({"energy": "not measured: x"}, 5) == "not measured: x"


def test_an_unreadable_rapl_counter_is_not_measured(tmp_path):
    rapl(tmp_path, 1)
    counter = tmp_path / "class/powercap/intel-rapl:0/energy_uj"
    counter.unlink()
    counter.mkdir()  # unreadable even for root (a mode-000 file is readable by root)
    reason = sysfs.rapl_zones(tmp_path)
    assert reason.startswith("not measured: ") and "energy_uj is not readable" in reason


def test_judge_orders_states_and_keeps_every_piece_of_evidence():
    c = {"other_cpu": {"mean_cores": 0.8, "pinned_cores": 2, "resolution_cores": 0.01},
         "power": {"source": "battery"},
         "frequency": {"largest_fall": 0.3, "fell_from_mhz": 3000, "fell_to_mhz": 2100}}
    j = judge(c, ConditionLimits())
    assert j["state"] == "contended" and len(j["evidence"]) == 3
    assert j["evidence"][0] == "other processes used 0.80 of the 2 pinned cores (limit 0.25)"
    # within the counting resolution of a short window: not judged contended
    c = {"other_cpu": {"mean_cores": 0.3, "pinned_cores": 2, "resolution_cores": 0.1}}
    assert judge(c, ConditionLimits())["state"] == "ok"


# ------------------------------------------------------------------ real contention
PROFILE = """
name: pin0
threads: 1
cores: [{cpu}]
budgets:
  - {{metric: decode_tps, min: 1, prompt_tokens: 8, gen_tokens: 32}}
  - {{metric: ttft_ms, max: 10000, prompt_tokens: 8, gen_tokens: 32}}
  - {{metric: peak_rss_mb, max: 4096}}
"""


def busy(cpu: int) -> subprocess.Popen:
    code = f"import os\nos.sched_setaffinity(0, [{cpu}])\nwhile True:\n    pass\n"
    p = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.5)
    return p


def speed_conditions(project, out) -> dict:
    from helpers import set_fake_speed

    set_fake_speed(project, 5.0)
    r = run_cli("run", "-b", "fake", "-d", "pin0", "-p", "8", "-n", "32", "-r", "5",
                "--tasks", "", "--out", str(out), "--no-progress", "-o", "jsonl")
    assert r.returncode == 0, r.stderr
    (rec,) = [read_record(p) for p in record_files([out])]
    return dict(rec.conditions)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_a_busy_process_on_the_pinned_core_makes_the_record_contended(project):
    cpu = max(os.sched_getaffinity(0))
    write(project / "devices" / "pin0.yaml", PROFILE.format(cpu=cpu))
    quiet = speed_conditions(project, project / "quiet")
    assert quiet["other_cpu"]["pinned_cores"] == 1 and quiet["samples"] >= 3
    if quiet["state"] != "ok":  # the machine's own state, not the harness: nothing to test
        pytest.skip(f"this machine is busy without the test's load ({quiet['state']}: "
                    f"{'; '.join(quiet.get('evidence', ()))}); the contrast needs a quiet one")
    hog = busy(cpu)
    try:
        loud = speed_conditions(project, project / "loud")
    finally:
        hog.kill()
        hog.wait()
    assert loud["state"] == "contended", loud
    assert loud["other_cpu"]["mean_cores"] > 0.5
    assert loud["evidence"][0].startswith("other processes used 0.")
    assert loud["evidence"][0].endswith("of the 1 pinned cores (limit 0.25)")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_verify_under_contention_is_not_valid_with_the_evidence(project):
    cpu = max(os.sched_getaffinity(0))
    write(project / "devices" / "pin0.yaml", PROFILE.format(cpu=cpu))
    hog = busy(cpu)
    try:
        r = run_cli("verify", "-d", "pin0", "-b", "fake", "-r", "5", "--soak-seconds", "0",
                    "--out", str(project / "out"), "--no-report")
    finally:
        hog.kill()
        hog.wait()
    assert r.returncode != 0, r.stdout
    assert r.stdout.startswith("**INCOMPLETE**"), r.stdout
    (run_dir,) = (project / "out").iterdir()
    doc = json.loads((run_dir / "verdict.json").read_text())
    by = {b["metric"]: b for b in doc["budgets"]}
    for m in ("decode_tps", "ttft_ms"):
        assert by[m]["status"] == "not_valid" and by[m]["conditions"] == "contended"
        assert "measured while contended: other processes used" in by[m]["detail"]
        assert "re-run on a quiet machine" in by[m]["detail"]
    assert by["peak_rss_mb"]["status"] == "pass" and by["peak_rss_mb"]["conditions"] is None
    assert "NOT VALID" in r.stdout


def test_compare_warns_when_baseline_and_current_conditions_differ(tmp_path):
    from harness.measure.environment import environment
    from harness.records import Measurement, make_record, write_json

    def rec(state):
        cond = {"state": state, "evidence": [] if state == "ok" else
                ["other processes used 0.90 of the 2 pinned cores (limit 0.25)"]}
        return make_record(
            kind="speed", run_id="r", seq=0, started_at="t",
            model={"id": "m", "format": "gguf", "sha256": None, "size_bytes": 1},
            backend={"name": "llama_cpp"}, device={"name": "d"},
            task={"name": "speed", "version": 1},
            params={"prompt_tokens": 8, "gen_tokens": 8, "threads": 2, "repetitions": 5},
            env=environment(), conditions=cond,
            measurements=[Measurement("decode_tps", "tokens/s", True, (10.0,) * 5)])

    write_json(tmp_path / "base" / "a.json", rec("ok"))
    write_json(tmp_path / "cur" / "a.json", rec("contended"))
    r = run_cli("compare", str(tmp_path / "base"), str(tmp_path / "cur"), "--format", "json")
    warnings = json.loads(r.stdout)["warnings"]
    assert any(w.startswith("different measurement conditions for m · llama_cpp") and
               "baseline ok, current contended (other processes used 0.90" in w
               for w in warnings), warnings
    write_json(tmp_path / "cur" / "a.json", rec("ok"))
    r = run_cli("compare", str(tmp_path / "base"), str(tmp_path / "cur"), "--format", "json")
    assert not any("conditions" in w for w in json.loads(r.stdout)["warnings"])
