"""What the two ONNX backends (onnxruntime, ort_genai) share: reading a prepared model
folder (genai_config.json, prepared.json), its model file, end-of-sequence ids, the
decoder's session options, and the context-length check.

Nothing here imports an inference library at module level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BenchError, ModelError

GENAI_CONFIG = "genai_config.json"
PREPARED_JSON = "prepared.json"


@dataclass(frozen=True)
class OnnxModel:
    """The facts a backend needs about a prepared ONNX folder (from genai_config.json)."""

    folder: Path
    model_file: Path
    vocab_size: int
    eos_ids: frozenset[int]
    num_layers: int
    num_kv_heads: int
    head_size: int
    context_length: int
    #: input/output names: input_ids, attention_mask, logits, and the %d patterns of the cache
    names: dict[str, str]
    #: past and present share one buffer of the full length (GroupQueryAttention models)
    share_buffer: bool
    #: attention window of sliding-window layers (0: none); a shared buffer holds at least this
    window: int
    #: decoder session options as written by the model builder
    session_options: dict
    #: prepared.json (empty when the folder was not made by harness.prepare)
    prepared: dict


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"missing {path.name}: not a prepared ONNX model folder",
                         path=path.parent) from None
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path.name}: {e}", path=path.parent) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path.name} is not a JSON object", path=path.parent)
    return data


def read_prepared(folder: str | Path) -> dict:
    """prepared.json of a folder made by harness.prepare, or {} when there is none."""
    path = Path(folder) / PREPARED_JSON
    return _read_json(path) if path.is_file() else {}


def load_onnx_model(folder: str | Path) -> OnnxModel:
    """Read and check a prepared ONNX folder; a missing or malformed piece is a ModelError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError("ONNX model folder not found", path=folder)
    cfg = _read_json(folder / GENAI_CONFIG)
    try:
        model = cfg["model"]
        dec = model["decoder"]
        eos = model["eos_token_id"]
        names = {
            "input_ids": dec["inputs"].get("input_ids", "input_ids"),
            "attention_mask": dec["inputs"].get("attention_mask", "attention_mask"),
            "position_ids": dec["inputs"].get("position_ids", "position_ids"),
            "past_key": dec["inputs"]["past_key_names"],
            "past_value": dec["inputs"]["past_value_names"],
            "logits": dec["outputs"].get("logits", "logits"),
            "present_key": dec["outputs"]["present_key_names"],
            "present_value": dec["outputs"]["present_value_names"],
        }
        info = OnnxModel(
            folder=folder,
            model_file=folder / dec.get("filename", "model.onnx"),
            vocab_size=int(model["vocab_size"]),
            eos_ids=frozenset(int(e) for e in (eos if isinstance(eos, list) else [eos])),
            num_layers=int(dec["num_hidden_layers"]),
            num_kv_heads=int(dec["num_key_value_heads"]),
            head_size=int(dec["head_size"]),
            context_length=int(model.get("context_length", 0)),
            names=names,
            share_buffer=bool(cfg.get("search", {}).get("past_present_share_buffer", False)),
            window=int((dec.get("sliding_window") or {}).get("window_size", 0)),
            session_options=dict(dec.get("session_options", {})),
            prepared=read_prepared(folder),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{GENAI_CONFIG} lacks or mangles {e}", path=folder) from None
    if not info.model_file.is_file():
        raise ModelError(f"model file {info.model_file.name} is missing", path=folder)
    return info


def apply_session_options(so, options: dict) -> None:
    """Copy the builder's decoder session options onto an onnxruntime.SessionOptions:
    known attributes by name, dotted keys as session config entries. Threads are left to
    the caller; options that only mean something to onnxruntime-genai are skipped."""
    import onnxruntime as ort

    attributes = {"enable_cpu_mem_arena", "enable_mem_pattern", "enable_profiling",
                  "log_severity_level"}
    for key, value in options.items():
        if key in attributes:
            setattr(so, key, value)
        elif key == "graph_optimization_level":
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, str(value))
        elif "." in key:
            so.add_session_config_entry(key, str(value))


def session_config_entries(options: dict) -> dict[str, str]:
    """onnxruntime session config entries asked for in LoadRequest.options, the same for
    both ONNX backends. intra_op_spinning: false stops idle intra-op threads from
    spin-waiting (much faster on a machine whose cores are busy with other work)."""
    entries = {}
    if "intra_op_spinning" in options:
        entries["session.intra_op.allow_spinning"] = "1" if options["intra_op_spinning"] else "0"
    return entries


def check_length(prompt_len: int, new_tokens: int, n_ctx: int) -> None:
    """Refuse a request that would not fit in the context window."""
    if prompt_len < 1:
        raise BenchError("the prompt must have at least one token")
    if prompt_len + new_tokens > n_ctx:
        raise BenchError(f"prompt ({prompt_len}) + new tokens ({new_tokens}) exceed "
                         f"the context length n_ctx={n_ctx}")


def precision_of(model: OnnxModel) -> str:
    """The weight precision recorded at preparation, or "unknown"."""
    return str(model.prepared.get("precision", "unknown"))
