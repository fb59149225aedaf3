"""Where the numbers come from: models (sha256), harness versions and commits, runtime
versions, device profiles, host fingerprints and runs, gathered from every input.

Values are de-duplicated; a runtime seen at two versions lists both, so mixed
environments are visible rather than hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.report.collect import Inputs
from harness.report.tables import fmt


def provenance(inputs: Inputs) -> dict:
    recs = inputs.records
    models: dict[tuple, dict] = {}
    for r in recs:
        m = r["model"]
        art = m.get("artifact") if isinstance(m.get("artifact"), Mapping) else {}
        row = models.setdefault((m["id"], m.get("sha256")), {
            "id": m["id"], "sha256": m.get("sha256") or "-", "format": str(m.get("format")),
            "size_mb": fmt(m["size_bytes"] / 2**20) if isinstance(m.get("size_bytes"), int)
            else "-", "quantization": str(m.get("quantization") or "-"),
            "parameters": str(m.get("parameters") or "-"), "artifacts": set()})
        if art.get("kind") and art.get("kind") != m.get("format"):
            size = art.get("size_bytes")
            row["artifacts"].add(f"{art['kind']} {art.get('precision') or ''}".strip()
                                 + (f" ({fmt(size / 2**20)} MB)" if isinstance(size, int)
                                    else ""))
    for v in inputs.verdicts:
        key = (v["model"]["id"], v["model"].get("sha256"))
        if key not in models and not any(k[0] == key[0] for k in models):
            models[key] = {"id": key[0], "sha256": key[1] or "-", "format": "-",
                           "size_mb": "-", "quantization": "-", "parameters": "-",
                           "artifacts": set()}
    for row in models.values():
        row["artifacts"] = ", ".join(sorted(row["artifacts"])) or "-"

    envs = [r["env"] for r in recs] + [v["env"] for v in inputs.verdicts
                                       if isinstance(v.get("env"), Mapping) and v["env"]]
    software: dict[tuple, int] = {}
    runtimes: dict[str, set] = {}
    for env in envs:
        k = (str(env.get("harness_version")), str(env.get("git_commit") or "unknown"))
        software[k] = software.get(k, 0) + 1
        for name, ver in (env.get("runtimes") or {}).items():
            runtimes.setdefault(str(name), set()).add(str(ver))

    devices: dict[str, dict] = {}
    for r in recs:
        d = r["device"]
        cpus = d.get("cpus")
        devices.setdefault(d["name"], {
            "name": d["name"], "description": str(d.get("description") or ""),
            "threads": str(d.get("threads", "-")), "cores": _cores(d.get("cores")),
            "cpus": ",".join(map(str, cpus)) if isinstance(cpus, (list, tuple)) else "-",
            "memory": fmt(d.get("memory_mb")), "budget": fmt(d.get("memory_budget_mb")),
            "context": fmt(d.get("context_size")),
            "budgets": str(len(d["budgets"])) if isinstance(d.get("budgets"), (list, tuple))
            else "-"})
    for v in inputs.verdicts:
        d = v["device"]
        devices.setdefault(d["name"], {
            "name": d["name"], "description": str(d.get("description") or ""),
            "threads": str(d.get("threads", "-")), "cores": _cores(d.get("cores")),
            "cpus": "-", "memory": fmt(d.get("memory_mb")),
            "budget": fmt(d.get("memory_budget_mb")), "context": fmt(d.get("context_size")),
            "budgets": str(len(v.get("budgets", [])))})

    hosts: dict[str, dict] = {}
    for env in envs:
        h = env.get("host")
        if not isinstance(h, Mapping):
            continue
        mem = h.get("memory_bytes")
        hosts.setdefault(str(h.get("id")), {
            "id": str(h.get("id")), "cpu": str(h.get("cpu_model") or "-"),
            "cores": f"{h.get('cores_logical', '-')} logical / "
                     f"{h.get('cores_physical', '-')} physical / "
                     f"{h.get('cores_allowed', '-')} allowed",
            "memory": f"{mem / 2**30:.1f} GiB" if isinstance(mem, (int, float)) else "-",
            "os": " ".join(str(h[k]) for k in ("os", "os_release", "machine") if h.get(k)),
            "features": " ".join(map(str, h.get("cpu_features") or [])) or "-"})

    runs: dict[str, dict] = {}
    for r in recs:
        run = runs.setdefault(r["run_id"], {"run_id": r["run_id"], "started": r["started_at"],
                                            "finished": r["finished_at"], "records": 0,
                                            "failed": 0})
        run["records"] += 1
        run["failed"] += r["status"] != "ok"
        run["started"] = min(run["started"], r["started_at"])
        run["finished"] = max(run["finished"], r["finished_at"])
    for v in inputs.verdicts:
        runs.setdefault(v["run_id"], {"run_id": v["run_id"], "started": v["created_at"],
                                      "finished": v["created_at"], "records": 0, "failed": 0})

    return {
        "models": sorted(models.values(), key=lambda m: (m["id"], m["sha256"])),
        "software": [{"version": v, "commit": c, "files": str(n)}
                     for (v, c), n in sorted(software.items())],
        "runtimes": [{"name": n, "versions": ", ".join(sorted(vs))}
                     for n, vs in sorted(runtimes.items())],
        "devices": [devices[k] for k in sorted(devices)],
        "hosts": [hosts[k] for k in sorted(hosts)],
        "runs": [dict(r, records=str(r["records"]), failed=str(r["failed"]))
                 for r in sorted(runs.values(), key=lambda r: r["run_id"])],
        "files": len(inputs.files),
    }


def _cores(v) -> str:
    if isinstance(v, (list, tuple)):
        return "CPUs " + ",".join(map(str, v))
    return "-" if v is None else str(v)
