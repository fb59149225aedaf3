"""Measurement conditions: was the machine quiet, cool and on mains while a worker ran?

The parent samples while a worker runs (every `interval_s`, from the device profile) and
summarises each item's window (from the end of the previous item, or the worker's start,
to the item's result):

- other_cpu: CPU time used on the worker's pinned cores by everything except the worker,
  per second of wall time, i.e. in cores ("0.80 of the 2 pinned cores"): the pinned cores'
  busy time (/proc/stat: everything but idle and iowait) minus the worker's own CPU time.
  The harness's parent counts as "other": it is on the machine too. Busy times count in
  clock ticks (10 ms), so a short window is judged contended only when the mean less its
  resolution_cores (the tick error over the window) is above the limit.
- load: the 1/5/15-minute load averages at the window's start and end.
- frequency: MHz of the pinned cores (min/median/max over every reading), and the largest
  fall of their median below an earlier peak in the window (3-reading rolling median).
- temperature: the hottest sensor's highest reading; power: ac or battery; energy: RAPL
  package (and DRAM) joules over the window and the mean power.

Judgement against the profile's limits (specs.ConditionLimits): contended (other CPU above
other_cpu_max), throttled (frequency fell more than frequency_drop_max, or a temperature
above temperature_max_c), on_battery (unless allowed), unstable (the calibration kernel,
harness.measure.calibration, ran more than calibration_drift_max slower or faster after
the item than before); otherwise ok. Every limit crossed
adds one sentence of evidence. What the host does not expose is "not measured: <reason>".
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

from harness.measure import sysfs

STATES = ("contended", "throttled", "on_battery", "unstable")  # in order of precedence


def _busy_s(cpus: list[int]) -> float:
    """Busy seconds of `cpus` since boot (everything but idle and iowait)."""
    import psutil

    times = psutil.cpu_times(percpu=True)
    total = 0.0
    for c in cpus:
        if c < len(times):
            t = times[c]._asdict()
            total += sum(v for k, v in t.items()
                         if k not in ("idle", "iowait", "guest", "guest_nice"))
    return total


def _process_cpu_s(pid: int | None) -> float | None:
    if pid is None:
        return 0.0
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:  # the worker has exited: its last reading stands
        return None


def _resolution(n_cpus: int, duration_s: float) -> float:
    """How far the mean can be off from counting in clock ticks: one tick at each end of
    each pinned core's busy time and of the worker's own time, over the window."""
    tick = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
    return (2 * n_cpus + 2) * tick / duration_s if duration_s > 0 else math.inf


def _loadavg() -> list[float] | str:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return sysfs.NOT + "no load average on this OS"


class Monitor:
    """Samples the machine while one worker runs; `window()` summarises and judges."""

    def __init__(self, cpus: list[int], limits, base: Path | None = None):
        self.cpus, self.limits, self.base = list(cpus), limits, base
        self.zones = sysfs.rapl_zones(base)
        self.policy = sysfs.policy(self.cpus, base)
        self.pid: int | None = None

    def start(self, pid: int | None = None) -> None:
        self.pid = pid
        self._worker_cpu = _process_cpu_s(pid) or 0.0
        self._open_window()

    def _open_window(self) -> None:
        self.t0 = self.last = time.monotonic()
        self.load0 = _loadavg()
        self.busy0, self.worker0 = _busy_s(self.cpus), self._worker_cpu
        self.other: list[float] = []
        self.freq: list[dict[int, float]] = []
        self.temp: list[tuple[str, float]] = []
        self.power: list[dict] = []
        self.energy = {"package": 0, "dram": 0}
        self.energy_last = (sysfs.read_energy_uj(self.zones)
                            if isinstance(self.zones, list) else [])
        self._prev = (self.t0, self.busy0, self.worker0)
        self._sample()

    def tick(self) -> None:
        """Take a sample if `interval_s` has passed since the last one."""
        if time.monotonic() - self.last >= self.limits.interval_s:
            self._sample()

    def _sample(self) -> None:
        now = time.monotonic()
        self.last = now
        self.busy = busy = _busy_s(self.cpus)
        w = _process_cpu_s(self.pid)
        if w is not None:
            self._worker_cpu = w
        t, b, wk = self._prev
        if now - t > 0.05:
            self.other.append(max(0.0, (busy - b - (self._worker_cpu - wk)) / (now - t)))
            self._prev = (now, busy, self._worker_cpu)
        f = sysfs.frequencies_mhz(self.cpus, self.base)
        if isinstance(f, dict):
            self.freq.append(f)
        temps = sysfs.temperatures_c(self.base)
        if isinstance(temps, dict):
            name = max(temps, key=temps.get)
            self.temp.append((name, temps[name]))
        p = sysfs.power_source(self.base)
        if isinstance(p, dict):
            self.power.append(p)
        if isinstance(self.zones, list) and self.zones:
            now_uj = sysfs.read_energy_uj(self.zones)
            for z, a, b2 in zip(self.zones, self.energy_last, now_uj):
                if a is not None and b2 is not None:
                    self.energy[z["domain"]] += sysfs.energy_delta_uj(a, b2, z["max_uj"])
            self.energy_last = now_uj

    def window(self, calibration: dict | None = None) -> dict:
        """The conditions since the last window (judged), then start a new window.
        `calibration`: the worker's kernel timed around the item (measure.calibration)."""
        self._sample()  # the window's last reading
        dur = self.last - self.t0
        other = max(0.0, (self.busy - self.busy0 - (self._worker_cpu - self.worker0)) / dur) \
            if dur > 0 else 0.0
        out = {
            "interval_s": self.limits.interval_s, "samples": len(self.other),
            "duration_s": round(dur, 3),
            "other_cpu": {"mean_cores": round(other, 3),
                          "max_cores": round(max(self.other, default=0.0), 3),
                          "pinned_cores": len(self.cpus),
                          "resolution_cores": round(_resolution(len(self.cpus), dur), 3)},
            "load": {"before": self.load0, "after": _loadavg()},
            "frequency": self._frequency(), "temperature": self._temperature(),
            "power": self._power(), "energy": self._energy(dur),
            "calibration": calibration if calibration is not None
            else "not measured: this item is not timed",
        }
        out.update(judge(out, self.limits))
        self._open_window()
        return out

    def _frequency(self) -> dict | str:
        if not self.freq:
            return sysfs.frequencies_mhz(self.cpus, self.base)  # the reason
        every = [v for f in self.freq for v in f.values()]
        med = [statistics.median(f.values()) for f in self.freq]
        smooth = [statistics.median(med[max(0, i - 1): i + 2]) for i in range(len(med))]
        peak, fall, at = smooth[0], 0.0, (smooth[0], smooth[0])
        for v in smooth:
            peak = max(peak, v)
            if peak > 0 and (peak - v) / peak > fall:
                fall, at = (peak - v) / peak, (peak, v)
        return {"min_mhz": min(every), "median_mhz": statistics.median(every),
                "max_mhz": max(every), "largest_fall": round(fall, 4),
                "fell_from_mhz": at[0], "fell_to_mhz": at[1], **self.policy}

    def _temperature(self) -> dict | str:
        if not self.temp:
            return sysfs.temperatures_c(self.base)
        name, hottest = max(self.temp, key=lambda x: x[1])
        return {"max_c": hottest, "sensor": name, "first_c": self.temp[0][1],
                "last_c": self.temp[-1][1]}

    def _power(self) -> dict | str:
        if not self.power:
            return sysfs.power_source(self.base)
        sources = {p["source"] for p in self.power}
        out = {"source": sources.pop() if len(sources) == 1 else "mixed"}
        pct = [p["battery_percent"] for p in self.power if "battery_percent" in p]
        if pct:
            out.update(battery_percent_start=pct[0], battery_percent_end=pct[-1])
        return out

    def _energy(self, dur: float) -> dict | str:
        if not isinstance(self.zones, list):
            return self.zones
        pkg = self.energy["package"] / 1e6
        out = {"package_j": round(pkg, 4), "mean_w": round(pkg / dur, 3) if dur > 0 else None,
               "zones": [z["name"] for z in self.zones]}
        if any(z["domain"] == "dram" for z in self.zones):
            out["dram_j"] = round(self.energy["dram"] / 1e6, 4)
        return out


def judge(c: dict, limits) -> dict:
    """{"state", "evidence", "thresholds"} for a conditions summary (see module docstring)."""
    found: dict[str, list[str]] = {s: [] for s in STATES}
    oc = c.get("other_cpu")
    if isinstance(oc, dict) and oc["mean_cores"] - oc.get("resolution_cores", 0) \
            > limits.other_cpu_max:
        found["contended"].append(
            f"other processes used {oc['mean_cores']:.2f} of the {oc['pinned_cores']} pinned "
            f"cores (limit {limits.other_cpu_max:g})")
    f = c.get("frequency")
    if isinstance(f, dict) and f["largest_fall"] > limits.frequency_drop_max:
        found["throttled"].append(
            f"frequency fell from {f['fell_from_mhz'] / 1000:.2f} to "
            f"{f['fell_to_mhz'] / 1000:.2f} GHz ({f['largest_fall']:.0%}, limit "
            f"{limits.frequency_drop_max:.0%})")
    t = c.get("temperature")
    if isinstance(t, dict) and limits.temperature_max_c is not None \
            and t["max_c"] > limits.temperature_max_c:
        found["throttled"].append(f"{t['sensor']} reached {t['max_c']:.0f} °C (limit "
                                  f"{limits.temperature_max_c:g} °C)")
    p = c.get("power")
    if isinstance(p, dict) and p["source"] in ("battery", "mixed") and not limits.allow_battery:
        found["on_battery"].append(f"ran on battery (power source: {p['source']})")
    k = c.get("calibration")
    if isinstance(k, dict) and isinstance(k.get("drift"), (int, float)) \
            and abs(k["drift"]) > limits.calibration_drift_max:
        found["unstable"].append(
            f"the calibration kernel ran {abs(k['drift']):.0%} "
            f"{'slower' if k['drift'] > 0 else 'faster'} after the item than before "
            f"({k['before_ms']:.1f} -> {k['after_ms']:.1f} ms, limit "
            f"{limits.calibration_drift_max:.0%}): the machine changed speed while it measured")
    state = next((s for s in STATES if found[s]), "ok")
    return {"state": state, "evidence": [e for s in STATES for e in found[s]],
            "thresholds": limits.model_dump(mode="json")}


def wait_until_idle(cpus: list[int], limits, seconds: float, probe_s: float = 1.0,
                    sleep=time.sleep) -> dict:
    """Wait (at most `seconds`) until other processes use at most `other_cpu_max` cores of
    `cpus` over a `probe_s` probe. Returns {"waited_s", "gave_up", "other_cores"}."""
    t0 = time.monotonic()
    while True:
        b0, p0 = _busy_s(cpus), time.monotonic()
        sleep(probe_s)
        other = max(0.0, (_busy_s(cpus) - b0) / max(time.monotonic() - p0, 1e-6))
        waited = time.monotonic() - t0
        if other <= limits.other_cpu_max or waited >= seconds:
            return {"waited_s": round(waited, 2), "gave_up": other > limits.other_cpu_max,
                    "other_cores": round(other, 3), "limit_s": seconds}


def energy_per_token(conditions: dict, tokens: int) -> dict | str:
    """Joules per generated token and tokens per joule over an item's window."""
    e = conditions.get("energy")
    if not isinstance(e, dict):
        return e if isinstance(e, str) else sysfs.NOT + "no energy reading"
    if tokens <= 0 or e["package_j"] <= 0:
        return sysfs.NOT + "no tokens generated or no energy counted in the window"
    return {"j_per_token": round(e["package_j"] / tokens, 6),
            "tokens_per_j": round(tokens / e["package_j"], 4),
            "basis": "RAPL package energy of the whole item window (load or previous item's "
                     "end to this result: warm-up, prefill and decode) / tokens generated"}
