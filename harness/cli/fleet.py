"""`sllm-bench fleet`: measure on the devices themselves, dispatched by Ray.

  fleet head                          start a Ray head here (ray start --head, loopback)
  fleet join HEAD_ADDRESS --device P  join this machine as device profile P
  fleet devices                       the joined devices, their fingerprints, busy or not
  fleet run --device a,b [run flags]  one job per device, one run folder per device
  fleet verify --device a,b           each device's verdict, and the verdict matrix

Ray runs whatever a connected client sends: keep the head on a private lab network and
never expose its port (README, "Fleet").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cli.common import EPILOG, add_run_args, log, split
from harness.measure.bounds import VERIFY_REPS
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


def register(sub) -> None:
    p = sub.add_parser("fleet", help="measure on real devices joined to a Ray cluster",
                       description=__doc__.split("\n\n")[0], epilog=EPILOG)
    fs = p.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])

    h = fs.add_parser("head", help="start a Ray head on this machine (ray start --head)",
                      epilog=EPILOG)
    h.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; "
                   "a private lab address for real devices, never a public one)")
    h.add_argument("--port", type=int, default=6379, help="head port (default 6379)")
    h.add_argument("--dry-run", action="store_true", help="print the command only")
    h.set_defaults(handler=cmd_head)

    j = fs.add_parser("join", help="join this machine to a head as a device profile",
                      epilog=EPILOG)
    j.add_argument("head", metavar="HEAD_ADDRESS", help="the head's HOST:PORT")
    j.add_argument("--device", "-d", required=True, help="this machine's device profile")
    j.add_argument("--node-ip", default=None, help="this node's address (Ray's "
                   "--node-ip-address; default: Ray's choice)")
    j.add_argument("--i-know", action="store_true", help="join a head outside private and "
                   "loopback ranges anyway")
    j.add_argument("--dry-run", action="store_true", help="print the command only")
    j.set_defaults(handler=cmd_join)

    d = fs.add_parser("devices", help="list joined devices", epilog=EPILOG)
    d.add_argument("--address", default=None, help="head address (default: RAY_ADDRESS or "
                   "the local head)")
    d.set_defaults(handler=cmd_devices)

    r = fs.add_parser("run", help="run on each named device (run's flags)", epilog=EPILOG,
                      description="One job per device (Ray task asking for the device's "
                      "resource), records streamed back, one run folder per device.")
    add_run_args(r)
    _fleet_args(r)
    r.add_argument("--shard", action="store_true", help="split each quality task's items "
                   "across the devices and join them into one record (quality only)")
    r.set_defaults(handler=cmd_run, parity=False)

    v = fs.add_parser("verify", help="verify on each named device; verdict matrix",
                      epilog=EPILOG)
    v.add_argument("--device", "-d", required=True, help="device profiles, comma-separated")
    v.add_argument("--model", "-m", default=None, help="catalogue id or model path")
    v.add_argument("--backend", "-b", action="append", metavar="NAME")
    v.add_argument("--reps", "-r", type=int, default=VERIFY_REPS,
                   help=f"speed repetitions (default {VERIFY_REPS}, as in verify)")
    v.add_argument("--soak-seconds", type=float, default=None,
                   help="soak length (default: planned per profile, as in verify)")
    v.add_argument("--limit", type=int, default=None)
    v.add_argument("--data-dir", default=None)
    v.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION)
    v.add_argument("--timeout", type=float, default=600.0)
    v.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS")
    v.add_argument("--out", default=None, help="fleet results folder (default: "
                   "results/fleet/<time>)")
    v.add_argument("--resume", metavar="OUT", default=None,
                   help="go on with an earlier fleet run folder")
    v.add_argument("--no-progress", action="store_true",
                   help="accepted for symmetry with verify (progress is one line per event)")
    _fleet_args(v)
    v.set_defaults(handler=cmd_verify)
    _matrix_parser(fs)


def _matrix_parser(fs) -> None:
    m = fs.add_parser("matrix", help="the verdict matrix of a folder of device run folders",
                      epilog=EPILOG, description="Model x device: PASS, FAIL, NOT VALID or "
                      "INCOMPLETE, from DIR/<device>/<run id>/verdict*.json (a fleet's "
                      "--out, or the CI workflow's downloaded run folders).")
    m.add_argument("folder", metavar="DIR")
    m.add_argument("--device", "-d", default=None, help="the columns, comma-separated "
                   "(default: every device folder)")
    m.set_defaults(handler=cmd_matrix)


def cmd_matrix(args) -> int:
    from harness import api
    from harness.errors import DataError

    folder = Path(args.folder)
    if not folder.is_dir():
        raise DataError("not a folder", path=folder)
    devices = split([args.device]) if args.device else None
    text, all_pass = api.fleet_matrix(folder, devices)
    print(text)
    return 0 if all_pass else 1


def _fleet_args(p) -> None:
    p.add_argument("--address", default=None, help="head address (default: RAY_ADDRESS or "
                   "the local head)")
    p.add_argument("--retries", type=int, default=0, help="send a failed job again up to N "
                   "times (its first attempt stays as failed records; default 0)")


def cmd_head(args) -> int:
    from harness import api

    return _start(api.fleet_head_command(args.host, args.port), args.dry_run)


def cmd_join(args) -> int:
    from harness import api

    cmd = api.fleet_join_command(args.head, args.device, i_know=args.i_know,
                                 node_ip=args.node_ip)
    if args.head.split(":")[0] in ("127.0.0.1", "localhost") and not args.dry_run:
        # `ray start` would move 127.0.0.1 to this host's IP: Ray's Node class instead
        node = api.fleet_join_loopback(args.head, args.device)
        log(f"joined {args.head} as {args.device} (loopback node {node[:12]}; stop it "
            "with the head's `ray stop` or by its process ids)")
        return 0
    return _start(cmd, args.dry_run)


def _start(cmd: list[str], dry_run: bool) -> int:
    import shlex

    log("$ " + shlex.join(cmd))
    if dry_run:
        return 0
    return 0 if subprocess.run(cmd).returncode == 0 else 1


def cmd_devices(args) -> int:
    from harness import api
    from harness.markdown import table

    rows = api.fleet_devices(args.address)
    if not rows:
        log("no device has joined (on a device: sllm-bench fleet join HEAD --device PROFILE)")
        return 0
    print("\n".join(table(
        ["device", "node", "alive", "busy", "fingerprint", "cpu", "cores", "memory GiB", "os"],
        [[d["device"], d["node"], "yes" if d["alive"] else "no", "yes" if d["busy"] else "no",
          d.get("fingerprint", "-"), d.get("cpu", "-"), d.get("cores", "-"),
          d.get("memory-gib", "-"), d.get("os", "-")] for d in rows])))
    return 0


def _out(args) -> Path:
    from harness import api

    if args.out:
        return Path(args.out)
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return api.default_out_dir().parent / "fleet" / stamp


def _go(args, kind: str, requests: dict, out: Path, resume=None, shard=False) -> int:
    from harness import api
    from harness.cli import printers

    printer = printers.make(getattr(args, "format", "markdown"),
                            sys.stdout if kind == "run" else sys.stderr)
    printer.header()
    result = api.fleet_run(requests, out, kind=kind, address=args.address,
                           retries=args.retries, resume=resume, shard=shard, log=log,
                           on_record=lambda dev, rec: printer.record(rec))
    printer.footer()
    for dev, run in result.devices.items():
        log(f"{dev}: {', '.join(str(p) for p in run.run_dirs)} ({len(run.records)} "
            f"record(s), {len(run.failed)} failed)")
    if kind == "verify":
        lost = {d: r.errors[-1] for d, r in result.devices.items() if r.errors}
        matrix, all_pass = api.fleet_matrix(out, list(requests), lost)
        print(matrix)
        from harness.records import atomic_write_text

        atomic_write_text(out / "matrix.md", matrix)
        return 0 if all_pass and not result.failed else 1
    return 1 if result.failed else 0


def cmd_run(args) -> int:
    from harness import api
    from harness.cli.run import request_from_args

    if args.resume:
        out = Path(args.resume)
        kind, requests, resume, shard = api.fleet_resume_state(out)
        log(f"resuming {out}: " + ", ".join(f"{d} ({len(s['skip'])} finished)"
                                           for d, s in resume.items()))
        return _go(args, kind, requests, out, resume, shard)
    devices = split([args.device])
    if args.shard:
        args.no_speed = True
    request = request_from_args(args)
    requests = api.fleet_requests(devices, request)
    if args.dry_run:
        for d, req in requests.items():
            log(f"{d}:")
            for line in api.describe(api.plan(req)):
                log(line)
        return 0
    return _go(args, "run", requests, _out(args), shard=args.shard)


def cmd_verify(args) -> int:
    from harness import api

    if args.resume:
        out = Path(args.resume)
        kind, requests, resume, _ = api.fleet_resume_state(out)
        return _go(args, kind, requests, out, resume)
    requests = api.fleet_requests(split([args.device]), verify=dict(
        model=args.model, backends=split(args.backend), reps=args.reps,
        soak_seconds=args.soak_seconds, limit=args.limit, data_dir=args.data_dir,
        precision=args.precision, timeout=args.timeout, models_file=args.models_file,
        wait_idle=args.wait_idle))
    return _go(args, "verify", requests, _out(args))
