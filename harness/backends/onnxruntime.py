"""Plain onnxruntime backend: an InferenceSession on the prepared model.onnx with the
harness's own KV-cache greedy loop, and continuation scoring.

The loop binds everything through IOBinding, so the cache never leaves onnxruntime's
buffers and is never copied by Python:
- models whose genai_config says past_present_share_buffer (GroupQueryAttention, what the
  onnxruntime-genai builder makes for CPU) get one preallocated buffer per layer, bound
  as both past and present input/output, updated in place; the attention mask (ones) is
  bound as long as what the cache holds, as onnxruntime-genai binds it (GroupQueryAttention
  takes its total length from the mask's shape);
- other models get the present OrtValues of one step bound as the next step's past.
Decode steps reuse one input-id buffer and one logits buffer; only the last position's
logits are read. Greedy: argmax; with ignore_eos the end-of-sequence logits are masked
(as llama.cpp's ignore_eos and genai's min_length do), otherwise generation stops at an
end-of-sequence id, which is not yielded.

Scoring (lm-evaluation-harness loglikelihood): the continuation's log-probabilities under
log_softmax of the logits at the positions that predict each of its tokens. Requests that
share a context evaluate the context once; each continuation then runs from that point
of the cache (rewinding costs nothing: later positions are overwritten or dropped).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult
from harness.backends.scoring import check_finite, score_rows
from harness.backends.onnx_common import (OnnxModel, apply_session_options, check_length,
                                          load_onnx_model, precision_of, session_config_entries)
from harness.errors import ModelError

_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    capabilities = frozenset({"generate", "score", "logits"})
    artifact = "onnx"
    options = frozenset({"intra_op_spinning"})
    requires = ("onnxruntime", "tokenizers")

    def load(self, request: LoadRequest) -> None:
        """Session with intra-op threads = request.threads, inter-op 1, all graph
        optimizations, plus the session options the model builder wrote for the decoder
        (as onnxruntime-genai applies them) and those of request.options."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._ort = ort
        self._info = info = load_onnx_model(request.path)
        self._threads = int(request.threads)
        self._n_ctx = int(request.n_ctx)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._config_entries = session_config_entries(request.options)
        apply_session_options(so, {**info.session_options, **self._config_entries})
        so.intra_op_num_threads = self._threads
        so.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(info.model_file), so,
                                             providers=["CPUExecutionProvider"])
        self._io = _IoSpec(self._session, info)
        tok_file = info.folder / "tokenizer.json"
        if not tok_file.is_file():
            raise ModelError("tokenizer.json is missing", path=info.folder)
        self._tokenizer = Tokenizer.from_file(str(tok_file))
        self._eos = np.array(sorted(info.eos_ids), dtype=np.int64)

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=add_special).ids

    def detokenize(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    def vocab_size(self) -> int:
        return self._info.vocab_size

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        """Greedy ids from an empty cache; all work happens inside the iteration."""
        self.require_no_depth(depth)
        check_length(len(prompt), max_new_tokens, self._n_ctx)
        if max_new_tokens < 1:
            return
        seq = KVSequence(self._session, self._io, len(prompt) + max_new_tokens)
        row = seq.forward(prompt)[-1]
        check_finite(row, "after the prompt")
        eos, eos_set = self._eos, self._info.eos_ids
        for i in range(max_new_tokens):
            if ignore_eos:
                row[eos] = -np.inf
            token = int(row.argmax())
            if not ignore_eos and token in eos_set:
                return
            yield token
            if i + 1 < max_new_tokens:
                row = seq.step(token)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Sum of log-probabilities of each continuation given its context; requests with
        the same context share one evaluation of it."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(tuple(r.context), []).append(i)
        results: list[ScoreResult | None] = [None] * len(requests)
        for context, indices in groups.items():
            longest = max(len(requests[i].continuation) for i in indices)
            check_length(len(context), longest, self._n_ctx)
            seq = KVSequence(self._session, self._io, len(context) + longest)
            last = seq.forward(context)[-1:].copy()
            mark = seq.mark()
            for i in indices:
                cont = tuple(requests[i].continuation)
                if not cont:
                    results[i] = ScoreResult(logprob=0.0, is_greedy=True, n_tokens=0)
                    continue
                seq.rewind(mark)
                # the whole continuation, not cont[:-1]: a one-token step on a cache takes
                # another kernel path whose int8 activation rounding differs, and scores
                # should equal one full forward pass whatever the batch holds
                rows = last if len(cont) == 1 else np.concatenate([last, seq.forward(cont)[:-1]])
                results[i] = score_rows(rows, cont)
        return results  # type: ignore[return-value]

    def logits(self, tokens: Sequence[int]) -> np.ndarray:
        check_length(len(tokens), 0, self._n_ctx)
        return KVSequence(self._session, self._io, len(tokens)).forward(tokens).copy()

    def info(self) -> dict:
        return {"onnxruntime": self._ort.__version__, "precision": precision_of(self._info),
                "intra_op_threads": self._threads, "n_ctx": self._n_ctx,
                "session_config": self._config_entries,
                "kv_cache": "shared_buffer" if self._info.share_buffer else "present_to_past"}

    def close(self) -> None:
        self.__dict__.pop("_session", None)
        self.__dict__.pop("_io", None)


class _IoSpec:
    """Names, element types and shapes of the session's inputs and outputs."""

    def __init__(self, session, info: OnnxModel):
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        n = info.names
        self.ids, self.mask, self.logits = n["input_ids"], n["attention_mask"], n["logits"]
        self.position_ids = n["position_ids"] if n["position_ids"] in inputs else None
        layers = range(info.num_layers)
        self.past = [p % i for i in layers for p in (n["past_key"], n["past_value"])]
        self.present = [p % i for i in layers for p in (n["present_key"], n["present_value"])]
        missing = [x for x in [self.ids, self.mask, *self.past] if x not in inputs]
        missing += [x for x in [self.logits, *self.present] if x not in outputs]
        if missing:
            raise ModelError(f"model.onnx lacks the input/output {missing[0]!r} "
                             "named in genai_config.json", path=info.folder)
        try:
            self.ids_type = _NP_TYPES[inputs[self.ids].type]
            self.mask_type = _NP_TYPES[inputs[self.mask].type]
            self.kv_type = _NP_TYPES[inputs[self.past[0]].type]
            self.logits_type = _NP_TYPES[outputs[self.logits].type]
        except KeyError as e:
            raise ModelError(f"model.onnx has an unsupported element type {e}",
                             path=info.folder) from None
        self.vocab = info.vocab_size
        self.kv_shape = (1, info.num_kv_heads, 0, info.head_size)  # length goes in [2]
        self.share_buffer = info.share_buffer
        self.window = info.window


class KVSequence:
    """One sequence's IOBinding and KV cache: forward() appends tokens and returns their
    logits; step() appends one token through reused buffers; mark()/rewind() go back."""

    def __init__(self, session, spec: _IoSpec, capacity: int):
        import onnxruntime as ort

        self._ort, self._session, self._spec = ort, session, spec
        self._io = io = session.io_binding()
        self.length = 0
        self._stepping = False
        if spec.share_buffer:
            capacity = max(capacity, spec.window)  # GroupQueryAttention's sliding window needs it
            shape = spec.kv_shape[:2] + (capacity,) + spec.kv_shape[3:]
            for past, present in zip(spec.past, spec.present):
                value = ort.OrtValue.ortvalue_from_shape_and_type(shape, spec.kv_type)
                io.bind_ortvalue_input(past, value)
                io.bind_ortvalue_output(present, value)
        else:
            empty = np.zeros(spec.kv_shape, spec.kv_type)
            self._cache = [ort.OrtValue.ortvalue_from_numpy(empty) for _ in spec.past]
        self._mask = np.ones((1, capacity), spec.mask_type)  # bound as [:, :length]
        self._ids1 = np.zeros((1, 1), spec.ids_type)
        self._logits1 = np.zeros((1, 1, spec.vocab), spec.logits_type)

    @staticmethod
    def _bind(bind, name: str, array: np.ndarray) -> None:
        """Bind a contiguous numpy array (no copy; it must outlive the run)."""
        bind(name, "cpu", 0, array.dtype, list(array.shape), array.ctypes.data)

    def _run(self, n: int) -> None:
        """Run n new tokens (already bound) at positions [length, length + n)."""
        spec, io, end = self._spec, self._io, self.length + n
        self._bind(io.bind_input, spec.mask, self._mask[:, :end])
        if not spec.share_buffer:
            shape = spec.kv_shape[:2] + (end,) + spec.kv_shape[3:]
            present = [self._ort.OrtValue.ortvalue_from_shape_and_type(shape, spec.kv_type)
                       for _ in spec.present]
            for name, value in zip(spec.past, self._cache):
                io.bind_ortvalue_input(name, value)
            for name, value in zip(spec.present, present):
                io.bind_ortvalue_output(name, value)
            self._cache = present
        if spec.position_ids:
            io.bind_cpu_input(spec.position_ids, np.arange(self.length, end, dtype=np.int64)[None])
        self._session.run_with_iobinding(io)
        self.length = end

    def forward(self, tokens: Sequence[int]) -> np.ndarray:
        """Append tokens; return their logits, shape (len(tokens), vocab)."""
        spec = self._spec
        ids = np.asarray(tokens, dtype=spec.ids_type).reshape(1, -1)
        logits = np.empty((1, ids.shape[1], spec.vocab), spec.logits_type)
        self._bind(self._io.bind_input, spec.ids, ids)
        self._bind(self._io.bind_output, spec.logits, logits)
        self._stepping = False
        self._run(ids.shape[1])
        return logits[0]

    def step(self, token: int) -> np.ndarray:
        """Append one token; return its logits row (a reused buffer, valid until the next call)."""
        if not self._stepping:
            self._bind(self._io.bind_input, self._spec.ids, self._ids1)
            self._bind(self._io.bind_output, self._spec.logits, self._logits1)
            self._stepping = True
        self._ids1[0, 0] = token
        self._run(1)
        return self._logits1[0, 0]

    def mark(self):
        """A point to come back to with rewind()."""
        return self.length, (None if self._spec.share_buffer else self._cache)

    def rewind(self, mark) -> None:
        """Forget every token appended after mark()."""
        length, cache = mark
        if not self._spec.share_buffer:
            self._cache = cache
        self.length = length
