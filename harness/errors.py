"""Error types the CLI turns into one-line messages and exit codes.

Exit codes: 0 success; 1 a run failed or a gate found a regression; 2 bad input
(a file, a key, a flag); 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path


def printable(part: object) -> str:
    """A name from a file (a key) as one line of text: control characters (a newline in a
    key) escaped, so the message stays one line."""
    text = str(part)
    return text if text.isprintable() else repr(text)[1:-1]


class BenchError(Exception):
    """An expected failure with a message a user can act on (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ConfigError(BenchError):
    """A YAML file is malformed, has an unknown key or a bad value."""


class ModelError(BenchError):
    """A model cannot be resolved, is missing, truncated, corrupt or fails its checksum."""


class DataError(BenchError):
    """A results or data file is missing, malformed or too large."""


class BackendUnavailable(BenchError):
    """A backend's library is not installed or cannot run this model format."""


class WriteError(BenchError):
    """An output could not be written (a folder in the way, no space, no permission)."""

    exit_code = 1
