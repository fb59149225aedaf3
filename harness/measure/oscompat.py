"""The worker side's OS-specific parts, each with a fallback that says what it could not
measure ("not measured: <reason>") instead of failing.

  pin(cpus)        Linux: sched_setaffinity; Windows: psutil cpu_affinity; macOS: none
                   (the OS has no CPU pinning)
  allowed_cpus()   the CPUs this process may run on
  peak_rss()       Linux: VmHWM (/proc/self/status); Windows: psutil peak working set;
                   macOS: ru_maxrss (bytes there); other Unix: ru_maxrss (KiB)
  cpu_model()      /proc/cpuinfo; macOS: sysctl machdep.cpu.brand_string; else platform
  capabilities()   what this host measures and how, recorded with every result's env

`system` defaults to sys.platform; tests pass "win32", "darwin" or "linux" with fakes.
"""

from __future__ import annotations

import os
import sys

NOT = "not measured: "


def _system(system: str | None) -> str:
    s = system or sys.platform
    return "linux" if s.startswith("linux") else s


def pin(cpus: list[int] | None, system: str | None = None) -> str:
    """Pin this process to `cpus`; returns how ("sched_setaffinity", "cpu_affinity") or
    "not measured: <reason>"."""
    if not cpus:
        return NOT + "no CPU set given"
    s = _system(system)
    try:
        if s == "linux" and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
            return "sched_setaffinity"
        if s == "darwin":
            return NOT + "macOS has no CPU pinning (threads are capped, cores are not chosen)"
        import psutil

        proc = psutil.Process()
        if not hasattr(proc, "cpu_affinity"):
            return NOT + f"no CPU affinity call on {s}"
        proc.cpu_affinity(list(cpus))
        return "cpu_affinity"
    except (OSError, ValueError) as e:
        return NOT + f"pinning refused ({e})"


def allowed_cpus(system: str | None = None) -> list[int]:
    s = _system(system)
    if s == "linux" and hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    if s != "darwin":
        try:
            import psutil

            got = psutil.Process().cpu_affinity()
            if got:
                return sorted(got)
        except (AttributeError, OSError):
            pass
    return list(range(os.cpu_count() or 1))


def proc_status_kb(field: str) -> int | None:
    """A /proc/self/status field in kB (Linux), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss(system: str | None = None) -> tuple[int | None, str]:
    """(peak resident bytes of this process, how) or (None, "not measured: <reason>")."""
    s = _system(system)
    if s == "linux":
        kb = proc_status_kb("VmHWM")
        if kb is not None:
            return kb * 1024, "VmHWM"
    if s == "win32":
        try:
            import psutil

            info = psutil.Process().memory_info()
            if hasattr(info, "peak_wset"):
                return int(info.peak_wset), "peak_wset"
        except (OSError, ImportError):
            pass
        return None, NOT + "no peak working set from psutil"
    try:
        import resource
    except ImportError:
        return None, NOT + f"no getrusage on {s}"
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not maxrss:
        return None, NOT + "getrusage reported no ru_maxrss"
    return int(maxrss if s == "darwin" else maxrss * 1024), "ru_maxrss"


def cpu_model(system: str | None = None) -> str:
    import platform
    import subprocess

    s = _system(system)
    if s == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def capabilities(system: str | None = None) -> dict[str, str]:
    """How this host pins, measures peak memory and reads conditions (or why not)."""
    s = _system(system)
    pinning = ("sched_setaffinity" if s == "linux" else
               NOT + "macOS has no CPU pinning" if s == "darwin" else "cpu_affinity")
    _, memory = peak_rss(s) if s == _system(None) else (None, {
        "linux": "VmHWM", "win32": "peak_wset", "darwin": "ru_maxrss"}.get(s, "ru_maxrss"))
    conditions = ("/proc/stat and sysfs" if s == "linux" else
                  f"CPU load through psutil; temperature and throttling {NOT}not exposed on {s}")
    return {"os": s, "pinning": pinning, "peak_memory": memory, "conditions": conditions}
