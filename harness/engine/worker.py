"""Inside the child process: apply the device profile, load the model, run the scenario.

The child is started with the "spawn" method (a fresh interpreter, never a fork of the
harness), so its VmHWM is the peak resident memory of loading and running this model
and nothing else. It talks to the parent only through a Pipe of plain-data messages:

  ("loaded",   {"load_s", "info", "rss_after_load_bytes"})
  ("progress", item_index, repetitions_done)
  ("result",   item_index, [measurement dicts], {"peak_rss_bytes", "elapsed_s", "details"})
  ("error",    item_index, {"kind", "message"})
  ("done",     {"peak_rss_bytes"})

The payload names the scenario as "module:Class" (harness.scenarios.ref) and carries its
typed items (frozen dataclasses, pickled to the child by multiprocessing).
"""

from __future__ import annotations

import os
import sys
import time
import traceback

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def apply_device(cpus: list[int] | None, threads: int) -> str:
    """Pin this process to `cpus` (harness.measure.oscompat: each OS its own way) and cap
    math-library thread pools at `threads`; returns how it pinned, or why not."""
    from harness.measure.oscompat import pin

    how = pin(cpus) if cpus else "not pinned: no CPU set given"
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    return how


def die_with_parent(parent_pid: int, interval_s: float = 0.25) -> None:
    """Exit within a second once the parent is gone (killed with SIGKILL it sends nothing):
    on Linux the kernel delivers SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere, and as a
    check of the race before prctl took effect, a daemon thread polls the parent's pid."""
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(interval_s)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _describe(exc: BaseException) -> dict:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"kind": type(exc).__name__, "message": message, "where": where}


def main(payload: dict, conn) -> None:
    """Entry point of the spawned worker (see the module docstring for the protocol)."""
    from harness import scenarios
    from harness.backends import backend_class
    from harness.backends.base import LoadRequest
    from harness.measure import calibration
    from harness.measure.memory import current_rss_bytes, peak_rss_bytes

    import signal

    # Ctrl-C reaches the whole process group: the parent decides, the worker carries on
    # until the parent stops it, so it never reports a half-finished item as a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if payload.get("parent_pid"):
        die_with_parent(payload["parent_pid"])
    item = -1
    try:
        load = payload["load"]
        apply_device(payload.get("cpus"), load["threads"])
        scenario = scenarios.get(payload["scenario"])
        backend = backend_class(payload["backend"])()
        t0 = time.perf_counter()
        backend.load(LoadRequest(**load))
        load_s = time.perf_counter() - t0
        conn.send(("loaded", {"load_s": load_s, "info": backend.info(),
                              "rss_after_load_bytes": current_rss_bytes()}))
        for item, work in enumerate(payload["items"]):
            def progress(done: int, _i=item) -> None:
                conn.send(("progress", _i, done))

            before = calibration.probe() if scenario.calibrated else None
            t0 = time.perf_counter()
            measurements, details = scenario.run(backend, work, progress)
            elapsed = time.perf_counter() - t0
            extra = {"peak_rss_bytes": peak_rss_bytes(), "elapsed_s": elapsed,
                     "details": details}
            if before is not None:
                extra["calibration"] = calibration.summary(before, calibration.probe())
            conn.send(("result", item, [m.plain() for m in measurements], extra))
        backend.close()
        conn.send(("done", {"peak_rss_bytes": peak_rss_bytes()}))
    except BaseException as exc:  # report, then exit non-zero: the parent records it
        try:
            conn.send(("error", item, _describe(exc)))
        finally:
            conn.close()
            sys.stderr.flush()
            os._exit(1)
