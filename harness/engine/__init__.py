"""The engine: a RunRequest becomes a plan of jobs, each job runs in a fresh worker, and
every record goes out through one emit path (session.py). See harness/api.py for the
calls to use."""

import sys


def log_stderr(msg: str) -> None:
    """The default log sink: one line on standard error, flushed (stdout stays the output)."""
    print(msg, file=sys.stderr, flush=True)
