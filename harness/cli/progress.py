"""Progress display for long runs, on standard error so standard output stays clean."""

from __future__ import annotations


class RichProgress:
    """One bar for the whole run, its description naming the current worker."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=Console(stderr=True),
                           redirect_stdout=False, redirect_stderr=False, transient=True)
        self._task = self._p.add_task("starting", total=total)

    def __enter__(self):
        self._p.start()
        return self

    def __exit__(self, *exc):
        self._p.stop()

    def start_job(self, job) -> None:
        self._p.update(self._task, description=job.label)

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._task, n)
