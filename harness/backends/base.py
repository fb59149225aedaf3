"""The backend protocol: the small surface every inference library is wrapped behind.

A backend loads one model artifact, turns text into token ids, generates token ids one
at a time (greedy), and optionally scores continuations. Everything else (speed timing,
perplexity, multiple choice, parity) lives in scenarios/ and is written once on top.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class LoadRequest:
    """What a worker hands a backend: the artifact (GGUF file or ONNX folder) and limits."""

    path: str
    threads: int
    n_ctx: int
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreRequest:
    """Score `continuation` after `context`. whole: feed the continuation's last token too
    (it is only predicted, so its logits are not needed), as llama-perplexity feeds whole
    chunks: windows of exactly n_ubatch tokens then fill llama.cpp's ubatches one each,
    and several can share a model call without changing the rounding."""

    context: tuple[int, ...]
    continuation: tuple[int, ...]
    whole: bool = False


@dataclass(frozen=True)
class ScoreResult:
    """logprob: sum of the continuation tokens' log-probabilities; is_greedy: every token was
    the argmax; n_tokens: continuation length."""

    logprob: float
    is_greedy: bool
    n_tokens: int


class Backend(ABC):
    """Base class: subclasses implement load, tokenize, vocab_size and generate."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset({"generate"})
    #: which artifact the backend reads: "gguf" (the catalogue file) or "onnx" (prepared folder)
    artifact: ClassVar[str] = "gguf"
    #: importable modules it needs; checked without importing them
    requires: ClassVar[tuple[str, ...]] = ()
    #: the model options (models.yaml `options:`, `run --set`) it reads
    options: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def check_option(cls, name: str, value) -> None:
        """Refuse a bad value of one of `options` (BenchError), in the parent before any
        worker starts; the default accepts every value."""

    @abstractmethod
    def load(self, request: LoadRequest) -> None: ...

    @abstractmethod
    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]: ...

    def tokenize_special(self, text: str) -> list[int]:
        """Token ids of text in which special-token markers (a rendered chat template's
        <|im_start|>, <start_of_turn>, ...) become those special tokens; no BOS added.
        The default is tokenize(text): tokenizers and transformers already parse the
        markers; llama_cpp overrides it (its tokenize() keeps them as plain text)."""
        return self.tokenize(text, add_special=False)

    @abstractmethod
    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped where the library allows)."""

    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        """Yield greedy token ids one by one, starting from an empty cache.

        Work for the prompt must happen inside the first next(), not before, so the
        caller's clock covers it. `depth` tokens (llama-bench's -d) are evaluated before
        the prompt, when generate() is called: backends with the "depth" capability
        support it, the others raise for a non-empty depth (require_no_depth).
        """

    def require_no_depth(self, depth: Sequence[int]) -> None:
        if depth:
            raise NotImplementedError(f"backend {self.name!r} cannot generate at a depth "
                                      "(a pre-filled context); --depth needs llama_cpp")

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        raise NotImplementedError(f"backend {self.name!r} cannot score continuations")

    def logits(self, tokens: Sequence[int]):
        """Logits rows (numpy, len(tokens) x vocab) for every position, from an empty cache.
        Backends that can provide them list "logits" in their capabilities."""
        raise NotImplementedError(f"backend {self.name!r} does not expose logits")

    def info(self) -> dict:
        """Facts about the loaded model and runtime, recorded with every result."""
        return {}

    def close(self) -> None:
        """Release the model; safe to call twice."""
