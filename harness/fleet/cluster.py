"""The Ray cluster as Ray documents it: `ray start --head` on the coordinator, `ray start
--address HEAD --resources '{"sllm-device:PROFILE": 1}'` on each device (with the device's
host fingerprint as node labels). These are thin wrappers: the commands they run are
printed, and Ray's own `ray start`/`ray stop` do the same.

Trust boundary: Ray runs whatever a connected client sends. A head belongs on a private
lab network (or loopback), its port never exposed; `join` refuses a public head address
unless told `i_know`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import sys

from harness.errors import BenchError

RESOURCE_PREFIX = "sllm-device:"
LABEL_PREFIX = "sllm-bench"
DEFAULT_PORT = 6379


def need_ray():
    """The ray module, or a one-line BenchError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BenchError("the fleet needs Ray: pip install 'sllm-bench[fleet]'") from None
    return ray


def ray_command() -> list[str]:
    """The `ray` CLI of this Python environment."""
    exe = os.path.join(os.path.dirname(sys.executable), "ray")
    return [exe] if os.path.exists(exe) else [shutil.which("ray") or "ray"]


#: Ray replaces a loopback address by the host's own IP unless clusters are "disabled"
#: (its behaviour on Windows and macOS): this keeps a loopback fleet on 127.0.0.1
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env_prefix(address: str) -> list[str]:
    return ["env", f"{LOOPBACK_ENV}=0"] if is_loopback(address) and os.name != "nt" else []


def head_command(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    """`ray start --head` bound to `host` (loopback by default), no device resource."""
    check_private(host, "--host", i_know=False)
    return [*_env_prefix(host), *ray_command(), "start", "--head",
            f"--node-ip-address={host}", f"--port={port}", "--include-dashboard=false",
            "--disable-usage-stats"]


def stay_on_loopback(address: str | None) -> None:
    """In this process: keep a loopback address loopback (see LOOPBACK_ENV)."""
    if address and is_loopback(address):
        os.environ[LOOPBACK_ENV] = "0"
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def check_private(address: str, what: str, *, i_know: bool) -> None:
    """Refuse an address outside loopback and private ranges (unless `i_know`)."""
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    host = host.strip("[]")
    try:
        ips = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            ips = {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            raise BenchError(f"{what}: cannot resolve {host!r}") from None
    public = [str(ip) for ip in ips if not (ip.is_private or ip.is_loopback)]
    if public and not i_know:
        raise BenchError(f"{what}: {address} is not a private or loopback address: Ray runs "
                         "whatever a client sends, so a fleet belongs on a private lab "
                         "network (pass --i-know to join anyway)")


def labels(fp: dict) -> dict[str, str]:
    """Node labels of a host fingerprint (Ray label values: 63 characters of [A-Za-z0-9_.-])."""
    def clean(text) -> str:
        v = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-_.")[:63].strip("-_.")
        return v or "unknown"

    return {f"{LABEL_PREFIX}/fingerprint": clean(fp["id"]),
            f"{LABEL_PREFIX}/cpu": clean(fp["cpu_model"]),
            f"{LABEL_PREFIX}/cores": clean(fp["cores_allowed"]),
            f"{LABEL_PREFIX}/memory-gib": clean(round(fp["memory_bytes"] / 2**30)),
            f"{LABEL_PREFIX}/os": clean(f"{fp['os']}-{fp['machine']}")}


def join_command(head: str, device: str, *, i_know: bool = False,
                 node_ip: str | None = None) -> list[str]:
    """`ray start --address HEAD --resources {"sllm-device:PROFILE": 1} --labels ...`:
    the device profile must exist here, the head address be private or loopback."""
    from harness.config import load_device
    from harness.measure.host import fingerprint

    check_private(head, "HEAD_ADDRESS", i_know=i_know)
    profile = load_device(device)
    cmd = [*ray_command(), "start", f"--address={head}",
           "--resources=" + json.dumps({RESOURCE_PREFIX + profile.name: 1}),
           "--labels=" + ",".join(f"{k}={v}" for k, v in labels(fingerprint()).items()),
           "--disable-usage-stats"]
    if node_ip:
        cmd.append(f"--node-ip-address={node_ip}")
    return cmd


def connect(address: str | None = None):
    """Connect this process to the running cluster (`address`, else RAY_ADDRESS or the
    local head); a one-line BenchError when there is none."""
    ray = need_ray()
    if ray.is_initialized():
        return ray
    import logging

    address = address or os.environ.get("RAY_ADDRESS") or recorded_head() or "auto"
    stay_on_loopback(address)
    try:
        ray.init(address=address,
                 namespace="sllm-bench", log_to_driver=False, logging_level=logging.WARNING,
                 include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise BenchError(f"no Ray cluster to connect to ({str(e).splitlines()[0]}): start "
                         "one with `sllm-bench fleet head`, or pass --address") from None
    return ray


def recorded_head() -> str | None:
    """The head this machine started last (Ray's own record of it, as address="auto"
    reads it), so a loopback head stays loopback: left to "auto", Ray connects to
    127.0.0.1 through the host's IP, where a loopback head does not listen."""
    from ray._private.services import find_bootstrap_address

    try:
        return find_bootstrap_address(None) or None
    except OSError:
        return None


def devices() -> list[dict]:
    """The joined devices: profile, node, fingerprint labels, alive, busy."""
    ray = need_ray()
    avail = ray.available_resources()
    out = []
    for node in ray.nodes():
        for res, units in node.get("Resources", {}).items():
            if not res.startswith(RESOURCE_PREFIX):
                continue
            name = res[len(RESOURCE_PREFIX):]
            lab = {k[len(LABEL_PREFIX) + 1:]: v for k, v in (node.get("Labels") or {}).items()
                   if k.startswith(LABEL_PREFIX + "/")}
            out.append({"device": name, "node": node["NodeID"][:12],
                        "address": node.get("NodeManagerAddress"), "alive": node["Alive"],
                        "busy": node["Alive"] and avail.get(res, 0) < units, **lab})
    return sorted(out, key=lambda d: (d["device"], d["node"]))


def joined_profiles() -> set[str]:
    return {d["device"] for d in devices() if d["alive"]}


def join_loopback(head: str, device: str) -> str:
    """Join a head on this machine's loopback as `device`: what `ray start --address` does,
    through Ray's own Node class (as ray.cluster_utils.Cluster adds a node), because `ray
    start` moves a loopback address to the host's IP (or, told not to, refuses a second
    node). For trying a fleet on one machine; devices on a network use join_command.
    The node's processes outlive this one, as `ray start`'s do. Returns the node id."""
    from harness.config import load_device
    from harness.measure.host import fingerprint

    if not is_loopback(head):
        raise BenchError(f"HEAD_ADDRESS: {head} is not a loopback address")
    need_ray()
    stay_on_loopback(head)
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    profile = load_device(device)
    params = RayParams(gcs_address=head.replace("localhost", "127.0.0.1"),
                       node_ip_address="127.0.0.1",
                       resources={RESOURCE_PREFIX + profile.name: 1},
                       labels=labels(fingerprint()), include_log_monitor=False,
                       node_manager_port=0)
    params.dashboard_agent_listen_port = None
    node = Node(params, head=False, shutdown_at_exit=False, spawn_reaper=False)
    return node.node_id
