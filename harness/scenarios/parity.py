"""Parity dump, run inside a worker: the next-token distributions of one text.

The text is tokenized by the backend, prefixed with BOS when the model uses one, cut to
`n_tokens`, and run from an empty cache; the log-softmax of every position's logits is
saved (float32 .npy) for the parent to compare across backends (harness/parity.py).
"""

from __future__ import annotations

from harness.backends.base import Backend
from harness.results import Measurement
from harness.scenarios.quality import bos_ids


def run(backend: Backend, *, task: dict, text: str, n_tokens: int, out_path: str,
        on_repetition=None):
    import numpy as np

    if "logits" not in backend.capabilities:
        raise NotImplementedError(f"backend {backend.name!r} does not expose logits, "
                                  "which the parity check needs")
    ids = (bos_ids(backend) + backend.tokenize(text))[:n_tokens]
    rows = np.asarray(backend.logits(ids), dtype=np.float32)
    rows -= rows.max(axis=1, keepdims=True)
    rows -= np.log(np.exp(rows).sum(axis=1, keepdims=True))
    np.save(out_path, rows)
    if on_repetition:
        on_repetition(1)
    return [Measurement("parity_tokens", "tokens", True, (float(len(ids)),))], {"ids": ids}
