"""The library API of the fleet (harness.fleet): jobs that travel and devices joined to a
Ray cluster (re-exported by harness.api)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.api.core import Log, verify_request
from harness.engine import log_stderr
from harness.engine.request import RunRequest
from harness.errors import BenchError
from harness.records import Record


# ================================================================== fleet (harness/fleet)
# Jobs that travel (job.json) and a fleet of devices joined to a Ray cluster, one job per
# device at a time. Ray is imported only when a fleet function is called.
def write_job(request: RunRequest, folder: str | Path, *, kind: str = "run") -> Path:
    """`request` as a job folder (job.json plus the files it names by sha256) that
    `sllm-bench run --request FOLDER/job.json` runs on another machine; returns job.json."""
    from harness.fleet import job

    return job.write(request, folder, kind=kind)


def job_request(path: str | Path, *, log: Log = log_stderr) -> RunRequest:
    """The RunRequest of a job document, after checking it (schema, paths inside the job
    folder, sha256 of every shipped file) and finding its model on this machine. The job
    folder becomes this process's project (SLLM_BENCH_HOME), as on a fleet device."""
    import os

    from harness.fleet import job

    path = Path(path).resolve()
    request = job.unpack(job.read(path), path.parent, log=log)
    os.environ["SLLM_BENCH_HOME"] = str(path.parent)
    return request


def fleet_head_command(host: str = "127.0.0.1", port: int = 6379) -> list[str]:
    """The `ray start --head` command of `sllm-bench fleet head` (loopback by default)."""
    from harness.fleet import cluster

    return cluster.head_command(host, port)


def fleet_join_command(head: str, device: str, *, i_know: bool = False,
                       node_ip: str | None = None) -> list[str]:
    """The `ray start --address ... --resources {"sllm-device:PROFILE": 1}` command of
    `sllm-bench fleet join`; a head address outside private and loopback ranges is
    refused unless `i_know`."""
    from harness.fleet import cluster

    return cluster.join_command(head, device, i_know=i_know, node_ip=node_ip)


def fleet_join_loopback(head: str, device: str) -> str:
    """Join a head on this machine's loopback (127.0.0.1:PORT) as `device`, to try a fleet
    on one machine (`ray start` cannot keep a second node on loopback); returns the node
    id. Devices on a lab network join with fleet_join_command."""
    from harness.fleet import cluster

    return cluster.join_loopback(head, device)


def fleet_devices(address: str | None = None) -> list[dict]:
    """The devices joined to the cluster at `address`: profile, node, fingerprint, busy."""
    from harness.fleet import cluster

    cluster.connect(address)
    return cluster.devices()


@dataclass
class FleetResult:
    """What a fleet run produced: per device its run folders, records and errors."""

    out: Path
    devices: dict

    @property
    def failed(self) -> bool:
        """True unless every device's items ended with ok records (a retry that redid a
        lost item settles it; the first attempt's failed records are kept all the same)."""
        return not all(r.settled for r in self.devices.values())


def fleet_requests(devices: Iterable[str], request: RunRequest | None = None,
                   verify: dict | None = None) -> dict[str, RunRequest]:
    """One request per device: `request` on each device, or verify_request(device,
    **verify) (each profile's own budgets)."""
    names = list(dict.fromkeys(devices))
    if not names:
        raise BenchError("--device: name at least one device profile")
    if verify is not None:
        return {d: verify_request(d, **verify) for d in names}
    return {d: request.model_copy(update={"device": d}) for d in names}


def fleet_run(requests: dict[str, RunRequest], out: str | Path, *, kind: str = "run",
              address: str | None = None, retries: int = 0, resume: dict | None = None,
              shard: bool = False, log: Log = log_stderr,
              on_record: Callable[[str, Record], None] | None = None) -> FleetResult:
    """Send one job per device (Ray task asking for {"sllm-device:<device>": 1}), write one
    run folder per device under `out`; kind "verify" also writes each device's verdict
    and report. A device that is not joined is a BenchError before anything starts; a
    device lost mid-job gives failed records naming the reason. With `shard`, each
    quality task's items are split across the devices and joined into one record
    (out/shard/). Raises harness.engine.session.Interrupted on Ctrl-C."""
    from harness.fleet import cluster
    from harness.fleet.ray_engine import Fleet

    if retries < 0:
        raise BenchError(f"--retries: must be 0 or more, got {retries}")
    cluster.connect(address)
    fleet = Fleet(requests, Path(out), kind=kind, retries=retries, resume=resume, log=log,
                  on_record=on_record, shard=shard)
    runs = fleet.run()
    if shard:
        from harness.fleet.shard import join_folder

        join_folder(Path(out), runs, log=log)
    return FleetResult(Path(out), runs)


def fleet_resume_state(out: str | Path) -> tuple[str, dict[str, RunRequest], dict, bool]:
    """An earlier fleet run's (kind, requests per device, resume state per device, shard)
    from out/fleet.json and each device's last run folder."""
    from harness.fleet.resume import state

    return state(Path(out))


def fleet_matrix(out: str | Path, devices: Iterable[str] | None = None,
                 lost: dict[str, str] | None = None) -> tuple[str, bool]:
    """The verdict matrix (model x device: PASS / FAIL / NOT VALID / INCOMPLETE) of the
    verdicts under `out`/<device>/<run id>/, as Markdown, and whether every cell passed."""
    from harness.fleet import matrix

    found = matrix.collect(Path(out), list(devices) if devices is not None else None)
    names = list(devices) if devices is not None else sorted({d for _, d in found})
    head, rows = matrix.table(found, names)
    all_pass = bool(found) and all(c == "PASS" for row in rows for c in row[1:])
    return matrix.markdown(found, names, lost), all_pass
