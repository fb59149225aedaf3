"""What the Linux kernel exposes about a machine's state, read from a sysfs root.

The root defaults to /sys and is configurable (`SLLM_BENCH_SYSFS` or the argument), so tests
can write fake trees. Every reader returns plain data, or a string starting with
"not measured: " that says why (missing files, no permission): never a guess.

- CPU frequency per CPU (cpufreq's scaling_cur_freq, kHz -> MHz), the governor and the
  energy-performance preference.
- Temperatures: hwmon temp*_input and thermal zones (millidegrees -> degrees C), the same
  files psutil.sensors_temperatures reads.
- Power source: power_supply (Mains/USB online, Battery status and capacity), the files
  psutil.sensors_battery reads.
- Energy: powercap RAPL zones (intel-rapl:N package zones and their dram sub-zones; AMD
  exposes the same interface), energy_uj counters that wrap at max_energy_range_uj.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

NOT = "not measured: "


def root() -> Path:
    return Path(os.environ.get("SLLM_BENCH_SYSFS", "/sys"))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------- frequency
def frequencies_mhz(cpus: list[int], base: Path | None = None) -> dict[int, float] | str:
    """Current frequency of each CPU in `cpus` that exposes one, in MHz."""
    cpu_dir = (base or root()) / "devices/system/cpu"
    out = {}
    for c in cpus:
        khz = _int(cpu_dir / f"cpu{c}/cpufreq/scaling_cur_freq")
        if khz is not None and khz > 0:
            out[c] = khz / 1000
    if not out:
        return NOT + f"no cpufreq scaling_cur_freq under {cpu_dir} for CPUs {cpus}"
    return out


def policy(cpus: list[int], base: Path | None = None) -> dict:
    """Governor and energy-performance preference of the pinned CPUs (the distinct values)."""
    cpu_dir = (base or root()) / "devices/system/cpu"
    out = {}
    for key, name in (("governor", "scaling_governor"),
                      ("energy_performance_preference", "energy_performance_preference")):
        values = sorted({v for c in cpus if (v := _read(cpu_dir / f"cpu{c}/cpufreq/{name}"))})
        out[key] = ",".join(values) if values else NOT + f"no {name} under {cpu_dir}"
    return out


# ---------------------------------------------------------------- temperature
def temperatures_c(base: Path | None = None) -> dict[str, float] | str:
    """Every temperature sensor: "hwmon name/label" or "zone type" -> degrees C."""
    b = base or root()
    out: dict[str, float] = {}
    for hw in sorted((b / "class/hwmon").glob("hwmon*")):
        name = _read(hw / "name") or hw.name
        for inp in sorted(hw.glob("temp*_input")):
            milli = _int(inp)
            if milli is not None:
                label = _read(inp.with_name(inp.name.replace("_input", "_label"))) or inp.name
                out[f"{name}/{label}"] = milli / 1000
    for zone in sorted((b / "class/thermal").glob("thermal_zone*")):
        milli = _int(zone / "temp")
        if milli is not None:
            out[f"{_read(zone / 'type') or zone.name}/{zone.name}"] = milli / 1000
    return out or NOT + f"no temperature sensors under {b}/class/hwmon or {b}/class/thermal"


# ---------------------------------------------------------------- power source
def power_source(base: Path | None = None) -> dict | str:
    """{"source": "ac" | "battery", "battery_percent", "battery_status"} from power_supply."""
    d = (base or root()) / "class/power_supply"
    supplies = sorted(d.glob("*")) if d.is_dir() else []
    mains = [s for s in supplies if _read(s / "type") in ("Mains", "USB", "USB_C")]
    batteries = [s for s in supplies if _read(s / "type") == "Battery"]
    if not mains and not batteries:
        return NOT + f"no power supply under {d} (a desktop, a server or a VM)"
    status = _read(batteries[0] / "status") if batteries else None
    if mains:  # the adapter says whether it is plugged in
        on_battery = bool(batteries) and not any(_int(s / "online") == 1 for s in mains)
    else:
        on_battery = status == "Discharging"
    out: dict = {"source": "battery" if on_battery else "ac"}
    if batteries:
        out["battery_status"] = status or "unknown"
        cap = _int(batteries[0] / "capacity")
        if cap is not None:
            out["battery_percent"] = cap
    return out


# ---------------------------------------------------------------- energy
_ZONE = re.compile(r"^intel-rapl:\d+(:\d+)?$")


def rapl_zones(base: Path | None = None) -> list[dict] | str:
    """Package and DRAM RAPL zones: [{"path", "name", "domain", "max_uj"}]."""
    d = (base or root()) / "class/powercap"
    zones = []
    for z in sorted(d.glob("intel-rapl:*")) if d.is_dir() else []:
        if not _ZONE.match(z.name):
            continue
        name = _read(z / "name") or ""
        domain = "package" if name.startswith("package") else "dram" if name == "dram" else None
        if domain is None:
            continue  # core/uncore are inside the package figure
        if not os.access(z / "energy_uj", os.R_OK) or _int(z / "energy_uj") is None:
            return NOT + f"{z / 'energy_uj'} is not readable (root only on most kernels)"
        zones.append({"path": str(z / "energy_uj"), "name": name, "domain": domain,
                      "max_uj": _int(z / "max_energy_range_uj") or 0})
    return zones or NOT + f"no RAPL package zone under {d}"


def read_energy_uj(zones: list[dict]) -> list[int | None]:
    return [_int(Path(z["path"])) for z in zones]


def energy_delta_uj(before: int, after: int, max_uj: int) -> int:
    """Energy between two readings of a counter that wraps at max_uj (one wrap at most:
    the sampler reads every few hundred milliseconds, and a counter wraps in minutes)."""
    if after >= before:
        return after - before
    return after + max_uj - before if max_uj > 0 else 0
