"""Run one job in a freshly spawned worker and turn whatever happens into events.

Events yielded by `run_worker`:
  ("loaded", info) ("progress", item, done) ("result", item, measurements, extra)
  ("failed", item, error)   one per item that did not finish, with the reason

The parent never busy-waits: it blocks on the pipe and the process sentinel with a short
timeout, so it can also enforce the silence timeout and the memory budget.
A worker that crashes, is killed, exits early, hangs past the timeout or goes over the
memory budget is killed if still alive and its unfinished items become failures; the
harness itself carries on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import wait

POLL_S = 0.25


def _exit_reason(exitcode: int | None) -> dict:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = {"SIGSEGV": " (segmentation fault in native code)",
                "SIGKILL": " (killed, e.g. by the out-of-memory killer)",
                "SIGABRT": " (aborted in native code)"}.get(name, "")
        return {"kind": "crash", "message": f"worker died from {name}{hint}"}
    return {"kind": "crash", "message": f"worker exited with code {exitcode} before finishing"}


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        return None


def run_worker(payload: dict, n_items: int, *, timeout_s: float,
               memory_budget_mb: float | None = None, monitor=None) -> Iterator[tuple]:
    """Spawn harness.engine.worker.main(payload) and yield its events (see module docstring).

    `monitor` (harness.measure.conditions.Monitor) samples the machine while the worker
    runs; each result's extra then carries the conditions of that item's window."""
    from harness.engine import worker

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    payload = {**payload, "parent_pid": os.getpid()}  # the worker dies with its parent
    proc = ctx.Process(target=worker.main, args=(payload, child_conn), daemon=True)
    proc.start()
    child_conn.close()
    poll_s = POLL_S
    if monitor is not None:
        monitor.start(proc.pid)
        poll_s = min(POLL_S, monitor.limits.interval_s)
    finished: set[int] = set()
    failure: dict | None = None
    done = False
    last_message = time.monotonic()
    try:
        while True:
            ready = wait([parent_conn, proc.sentinel], timeout=poll_s)
            if monitor is not None:
                monitor.tick()
            if parent_conn in ready:
                try:
                    msg = parent_conn.recv()
                except (EOFError, OSError):
                    break  # the child closed its end: it has exited
                last_message = time.monotonic()
                kind = msg[0]
                if kind == "result":
                    finished.add(msg[1])
                    if monitor is not None:
                        msg[3]["conditions"] = monitor.window(msg[3].get("calibration"))
                    yield msg
                elif kind == "error":
                    failure = {**msg[2], "kind": "error", "exception": msg[2]["kind"]}
                    if msg[1] >= 0:
                        yield ("failed", msg[1], failure)
                        finished.add(msg[1])
                elif kind == "done":
                    done = True
                else:
                    yield msg
                continue
            if proc.sentinel in ready or not proc.is_alive():
                if parent_conn.poll(0):
                    continue  # drain what it said before it ended
                break
            if memory_budget_mb is not None:
                rss = _rss_mb(proc.pid)
                if rss is not None and rss > memory_budget_mb:
                    failure = {"kind": "memory_budget",
                               "message": f"worker used {rss:.0f} MB, over the device memory "
                                          f"budget of {memory_budget_mb:.0f} MB"}
                    break
            if time.monotonic() - last_message > timeout_s:
                failure = {"kind": "timeout",
                           "message": f"no progress for {timeout_s:g} s (hung or too slow)"}
                break
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=10)
        parent_conn.close()
    if not done and failure is None:
        failure = _exit_reason(proc.exitcode)
    for item in range(n_items):
        if item not in finished:
            yield ("failed", item, failure or _exit_reason(proc.exitcode))
