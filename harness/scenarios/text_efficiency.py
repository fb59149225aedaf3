"""Korean-aware efficiency of a model on real text: tokenizer fertility and decode speed
in characters per second, so models with different tokenizers compare fairly (a model
whose tokenizer splits Korean finely decodes more tokens per second and fewer characters).

Measured on a perplexity task's text (prose_en, prose_ko), recorded with the task (whose
record says its language):

  text_tokens, text_chars   tokens (no BOS) and characters (Unicode code points) of the
                            text, summed over its documents
  tokens_per_char           text_tokens / text_chars
  tokens_per_word           text_tokens / words (words = re.split(r"\\s+", text), as the
                            word perplexity counts them: eojeol in Korean)

With the task's decode_tokens > 0: `decode_repetitions` greedy generations (after one
short warm-up), each from the text's first `decode_prompt_tokens` tokens (no BOS, as
`run --prompt-source text:TASK`), up to decode_tokens tokens, end-of-sequence honoured:

  text_decode_chars_per_s   characters decoded after the first token / time from the
                            first to the last generated token (one sample a repetition)
  text_decode_tps           (tokens - 1) / the same time (the speed table's decode
                            definition, on this prompt)
  text_decode_chars_per_token  characters decoded after the first token / (tokens - 1)

Characters after the first token are len(detokenize(all)) - len(detokenize(first)), so a
character split across byte tokens is counted once. A repetition that produced fewer
than 2 tokens gives no sample. These figures come from the quality worker; the speed
records (synthetic prompts, conditions checked) remain the ones budgets and gates judge.
The task's items_per_s (documents / wall time) includes these generations.
"""

from __future__ import annotations

import time

from harness.backends.base import Backend
from harness.records import Measurement
from harness.scenarios.perplexity import count_words

WARMUP_TOKENS = 4


def fertility(backend: Backend, texts: list[str]) -> list[Measurement]:
    tokens = sum(len(backend.tokenize(t, add_special=False)) for t in texts)
    chars = sum(len(t) for t in texts)
    words = sum(count_words(t) for t in texts)
    return [Measurement.of("text_tokens", (float(tokens),)),
            Measurement.of("text_chars", (float(chars),)),
            Measurement.of("tokens_per_char", (tokens / chars,)),
            Measurement.of("tokens_per_word", (tokens / words,))]


def timed_generation(backend: Backend, prompt: list[int], max_new_tokens: int
                     ) -> tuple[list[int], list[float]]:
    """(token ids, perf_counter time of each) of one greedy generation."""
    ids, stamps = [], []
    for token in backend.generate(prompt, max_new_tokens):
        stamps.append(time.perf_counter())
        ids.append(token)
    return ids, stamps


def decode_chars(backend: Backend, text: str, *, prompt_tokens: int, gen_tokens: int,
                 repetitions: int) -> list[Measurement]:
    from harness.scenarios.exact_match import require_detokenize

    detok = require_detokenize(backend)
    prompt = backend.tokenize(text, add_special=False)[:prompt_tokens]
    if not prompt:
        raise ValueError("the text has no tokens to prompt with")
    timed_generation(backend, prompt, WARMUP_TOKENS)
    cps, tps, cpt = [], [], []
    for _ in range(repetitions):
        ids, stamps = timed_generation(backend, prompt, gen_tokens)
        if len(ids) < 2 or stamps[-1] <= stamps[0]:
            continue
        chars = len(detok(ids)) - len(detok(ids[:1]))
        elapsed = stamps[-1] - stamps[0]
        cps.append(chars / elapsed)
        tps.append((len(ids) - 1) / elapsed)
        cpt.append(chars / (len(ids) - 1))
    if not cps:
        return []
    return [Measurement.of("text_decode_chars_per_s", tuple(cps)),
            Measurement.of("text_decode_tps", tuple(tps)),
            Measurement.of("text_decode_chars_per_token", tuple(cpt))]


def run(backend: Backend, *, task: dict, items: list) -> list[Measurement]:
    """Fertility of the task's texts, and decode speed on them when decode_tokens > 0."""
    texts = [it["text"] for it in items]
    out = fertility(backend, texts)
    if int(task.get("decode_tokens") or 0) > 0:
        out += decode_chars(backend, "\n\n".join(texts),
                            prompt_tokens=int(task.get("decode_prompt_tokens", 128)),
                            gen_tokens=int(task["decode_tokens"]),
                            repetitions=int(task.get("decode_repetitions", 3)))
    return out
