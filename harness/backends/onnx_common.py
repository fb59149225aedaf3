"""What the two ONNX backends (onnxruntime, ort_genai) share: reading a prepared model
folder (genai_config.json, prepared.json), its model file, end-of-sequence ids, the
decoder's session options, and the context-length check.

Nothing here imports an inference library at module level.
"""

from __future__ import annotations

import json
import math
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
    read = _Config(folder)
    model = read.obj(cfg, "model")
    dec = read.obj(model, "decoder", "model.")
    inputs = read.obj(dec, "inputs", "model.decoder.")
    outputs = read.obj(dec, "outputs", "model.decoder.")
    eos = model.get("eos_token_id")
    names = {
        "input_ids": read.name(inputs, "input_ids", "input_ids"),
        "attention_mask": read.name(inputs, "attention_mask", "attention_mask"),
        "position_ids": read.name(inputs, "position_ids", "position_ids"),
        "past_key": read.name(inputs, "past_key_names", per_layer=True),
        "past_value": read.name(inputs, "past_value_names", per_layer=True),
        "logits": read.name(outputs, "logits", "logits"),
        "present_key": read.name(outputs, "present_key_names", per_layer=True),
        "present_value": read.name(outputs, "present_value_names", per_layer=True),
    }
    filename = dec.get("filename", "model.onnx")
    if not isinstance(filename, str) or not filename or Path(filename).is_absolute() \
            or ".." in Path(filename).parts:
        read.fail(f"model.decoder.filename {filename!r} is not a file name inside the folder")
    search = cfg.get("search", {})
    window = dec.get("sliding_window") or {}
    options = dec.get("session_options", {})
    if not isinstance(search, dict) or not isinstance(window, dict) \
            or not isinstance(options, dict):
        read.fail("search, model.decoder.sliding_window and session_options must be objects")
    info = OnnxModel(
        folder=folder,
        model_file=folder / filename,
        vocab_size=read.int(model.get("vocab_size"), "model.vocab_size", 1),
        eos_ids=frozenset(read.int(e, "model.eos_token_id", 0)
                          for e in (eos if isinstance(eos, list) else [eos])),
        num_layers=read.int(dec.get("num_hidden_layers"), "model.decoder.num_hidden_layers", 1),
        num_kv_heads=read.int(dec.get("num_key_value_heads"),
                              "model.decoder.num_key_value_heads", 1),
        head_size=read.int(dec.get("head_size"), "model.decoder.head_size", 1),
        context_length=read.int(model.get("context_length", 0), "model.context_length", 0),
        names=names,
        share_buffer=search.get("past_present_share_buffer", False) is True,
        window=read.int(window.get("window_size", 0), "sliding_window.window_size", 0),
        session_options=options,
        prepared=read_prepared(folder),
    )
    if not info.model_file.is_file():
        raise ModelError(f"model file {info.model_file.name} is missing", path=folder)
    return info


class _Config:
    """Typed reads of genai_config.json; anything else is one ModelError naming the key."""

    def __init__(self, folder: Path):
        self.folder = folder

    def fail(self, what: str):
        raise ModelError(f"{GENAI_CONFIG}: {what}", path=self.folder)

    def obj(self, parent: dict, key: str, where: str = "") -> dict:
        value = parent.get(key)
        if not isinstance(value, dict):
            self.fail(f"{where}{key} is missing or not an object")
        return value

    def int(self, value, what: str, least: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value != int(value) or value < least \
                or value > 2**62:
            self.fail(f"{what} is {value!r}, not an integer >= {least}")
        return int(value)

    def name(self, parent: dict, key: str, default: str | None = None, *,
             per_layer: bool = False) -> str:
        value = parent.get(key, default)
        ok = isinstance(value, str) and value and (
            not per_layer or (value.count("%") == 1 and "%d" in value))
        if not ok:
            self.fail(f"{key} is {value!r}, not a tensor name"
                      + (" with one %d for the layer" if per_layer else ""))
        return value


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
