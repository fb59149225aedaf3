"""Where a measurement was taken: on the device profile's own hardware, or emulated.

A device profile may name the hardware it stands for (`hardware: {cpu_model, cores,
memory_mb, os, fingerprint}`, each optional). A record (or verdict) was *measured on the
target* when the host that ran it matches every field the profile names: the same CPU
model, that many logical cores, memory within 10% of memory_mb, the same OS, the same host
fingerprint. A profile that names no hardware stands for no particular machine, so its
records are *emulated* on whatever host ran them ("emulated on <host>: not a measurement
of the target device"), whatever the core counts; the profile `host` is the exception: it
is, by definition, the machine that runs it.
"""

from __future__ import annotations

from collections.abc import Mapping

MEASURED, EMULATED = "measured", "emulated"
MEMORY_TOLERANCE = 0.10


def host_text(host: Mapping) -> str:
    """'<cpu model>, <n> cores, <m> MB, <os>, fingerprint <id>'."""
    mem = host.get("memory_bytes")
    parts = [str(host.get("cpu_model") or "unknown CPU"),
             f"{host.get('cores_logical', '?')} cores",
             f"{mem // 2**20} MB" if isinstance(mem, int) else "memory unknown",
             str(host.get("os") or "unknown OS"), f"fingerprint {host.get('id', '?')}"]
    return ", ".join(parts)


def mismatches(hardware: Mapping, host: Mapping) -> list[str]:
    """How the host differs from the hardware a profile names (empty: it is the target)."""
    out = []
    if hardware.get("cpu_model") and hardware["cpu_model"] != host.get("cpu_model"):
        out.append(f"CPU {host.get('cpu_model')!r}, not {hardware['cpu_model']!r}")
    if hardware.get("cores") and hardware["cores"] != host.get("cores_logical"):
        out.append(f"{host.get('cores_logical')} cores, not {hardware['cores']}")
    mem, have = hardware.get("memory_mb"), host.get("memory_bytes")
    if mem and (not isinstance(have, int)
                or abs(have / 2**20 - mem) > MEMORY_TOLERANCE * mem):
        out.append(f"{have // 2**20 if isinstance(have, int) else '?'} MB, not {mem} MB")
    if hardware.get("os") and hardware["os"] != host.get("os"):
        out.append(f"OS {host.get('os')}, not {hardware['os']}")
    if hardware.get("fingerprint") and hardware["fingerprint"] != host.get("id"):
        out.append(f"fingerprint {host.get('id')}, not {hardware['fingerprint']}")
    return out


def placement(device: Mapping, host: Mapping) -> dict:
    """{"on": measured | emulated, "text": the sentence every report shows, "host": the
    host's fingerprint id} for a record's device profile and env.host."""
    hw = device.get("hardware") if isinstance(device.get("hardware"), Mapping) else None
    where = host_text(host if isinstance(host, Mapping) else {})
    name = device.get("name", "?")
    if hw is None and name == "host":
        on, text = MEASURED, f"measured on: {where} (profile host: this machine)"
    elif hw is None:
        on, text = EMULATED, (f"emulated on {where}: not a measurement of the target device "
                              f"(profile {name} names no hardware)")
    else:
        diff = mismatches(hw, host if isinstance(host, Mapping) else {})
        on = EMULATED if diff else MEASURED
        text = (f"emulated on {where}: not a measurement of the target device ("
                + "; ".join(diff) + ")") if diff else f"measured on: {where}"
    return {"on": on, "text": text, "host": (host or {}).get("id")}
