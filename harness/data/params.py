"""The parameters of each task kind (a task YAML's section named after its kind).

Unknown keys are errors (Strict); a problem is a one-line message without pydantic's
"Value error, " prefix (invalid()).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.specs import Strict


def invalid(message: str) -> Exception:
    """A validation error whose text is exactly `message` (no "Value error, " prefix)."""
    from pydantic_core import PydanticCustomError

    return PydanticCustomError("task_spec", message)


class PerplexityParams(Strict):
    """mode "rolling": lm-evaluation-harness's loglikelihood_rolling, windows of
    `context_tokens` tokens each predicting `stride` new ones (default: context_tokens, i.e.
    disjoint windows, as lm-evaluation-harness). mode "llama_cpp": llama.cpp's perplexity
    tool, non-overlapping chunks of context_tokens tokens, the first replaced by BOS, the
    tokens after position `scored_from` (default context_tokens // 2) scored.
    decode_tokens > 0 also times `decode_repetitions` greedy generations of that many
    tokens from the text's first `decode_prompt_tokens` tokens, for decode characters/s
    (harness.scenarios.text_efficiency); 0 measures tokenizer fertility only."""

    mode: Literal["rolling", "llama_cpp"] = "rolling"
    context_tokens: int = Field(gt=1)
    stride: int | None = Field(None, gt=0)
    scored_from: int | None = Field(None, ge=0)
    windows_per_call: int = Field(1, gt=0)
    decode_tokens: int = Field(0, ge=0)
    decode_prompt_tokens: int = Field(128, gt=0)
    decode_repetitions: int = Field(3, gt=0)

    @model_validator(mode="after")
    def _fit(self):
        if self.mode == "rolling" and self.scored_from is not None:
            raise invalid("'scored_from' applies to mode 'llama_cpp' only")
        if self.mode == "llama_cpp" and self.stride is not None:
            raise invalid("'stride' applies to mode 'rolling' only")
        if self.stride is not None and self.stride > self.context_tokens:
            raise invalid("'stride' must not exceed 'context_tokens'")
        if self.scored_from is not None and self.scored_from >= self.context_tokens - 1:
            raise invalid("'scored_from' must be less than context_tokens - 1")
        return self


class MultipleChoiceParams(Strict):
    """add_bos: put the model's BOS token before every context (llama.cpp's perplexity tool
    does; lm-evaluation-harness's hf model does not). items_per_call: items whose requests
    go to one backend score() call."""

    add_bos: bool = False
    items_per_call: int = Field(8, gt=0)


class ExactMatchParams(Strict):
    """Greedy generation of up to max_new_tokens, cut at the first stop string; scored by
    exact_match (the stripped text equals one of the answers, optionally ignoring
    case/punctuation), contains (an answer occurs in the text) and, with `regex`,
    regex_match (the regex's first match in the text, its group 1 when it has groups,
    equals an answer). `chat`: the prompt becomes the user message of the model's own
    chat template (rendered in the sandbox, harness.data.chat), after `system` when set;
    the template's special-token markers become special tokens and the model's BOS goes
    first when its tokenizer adds one (add_bos does not apply)."""

    max_new_tokens: int = Field(32, gt=0)
    stop: list[str] = Field(default_factory=lambda: ["\n"])
    add_bos: bool = False
    ignore_case: bool = False
    ignore_punctuation: bool = False
    chat: bool = False
    system: str | None = None
    regex: str | None = None

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, v):
        if any(x == "" for x in v):
            raise ValueError("an empty stop string would cut every output to nothing")
        return v

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v):
        if v is not None:
            import re

            try:
                re.compile(v)
            except re.error as e:
                raise invalid(f"'regex' {v!r} does not compile ({e})") from None
        return v

    @model_validator(mode="after")
    def _fit(self):
        if self.system is not None and not self.chat:
            raise invalid("'system' needs 'chat: true'")
        if self.chat and self.add_bos:
            raise invalid("'add_bos' does not apply with 'chat: true' (the model's own BOS "
                          "is used)")
        return self


class PartialChoiceParams(Strict):
    """Partial scoring (lm-evaluation-harness's WinoGrande): one shared continuation
    scored after each context option; add_bos and items_per_call as multiple choice."""

    add_bos: bool = False
    items_per_call: int = Field(8, gt=0)


class LastWordParams(Strict):
    """Last-word prediction (LAMBADA): the target's log-likelihood given the passage and
    whether greedy decoding would produce it; add_bos and items_per_call as multiple
    choice."""

    add_bos: bool = False
    items_per_call: int = Field(16, gt=0)


PARAMS = {"perplexity": PerplexityParams, "multiple_choice": MultipleChoiceParams,
          "exact_match": ExactMatchParams, "partial_choice": PartialChoiceParams,
          "last_word": LastWordParams}
