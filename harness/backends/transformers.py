"""The reference: transformers (PyTorch, CPU) loading the GGUF file itself.

transformers dequantizes the GGUF weights to float32, so this measures the unquantized
model the GGUF was made from (the fp32 reference for parity), not the quantized kernels.
Generation is a greedy loop over the model's KV cache, one forward per token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from harness.backends.base import Backend, LoadRequest, ScoreRequest, ScoreResult


class TransformersBackend(Backend):
    name = "transformers"
    capabilities = frozenset({"generate", "score", "logits"})
    artifact = "gguf"
    requires = ("transformers", "torch", "gguf")

    def load(self, request: LoadRequest) -> None:
        os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF de-quantization progress bar
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        torch.set_num_threads(request.threads)
        path = Path(request.path)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32)
        self.model.eval()
        self._threads = request.threads
        self._eos = self.tok.eos_token_id

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.tok.encode(text, add_special_tokens=add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)

    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def generate(self, prompt: Sequence[int], max_new_tokens: int, *,
                 ignore_eos: bool = False, depth: Sequence[int] = ()) -> Iterator[int]:
        self.require_no_depth(depth)
        torch = self.torch
        with torch.inference_mode():
            ids = torch.tensor([list(prompt)], dtype=torch.long)
            out = self.model(input_ids=ids, use_cache=True)
            from harness.backends.scoring import check_finite

            check_finite(out.logits[0, -1].float().numpy(), "after the prompt")
            for i in range(max_new_tokens):
                token = int(out.logits[0, -1].argmax())
                yield token
                if i + 1 == max_new_tokens or (not ignore_eos and token == self._eos):
                    return
                out = self.model(input_ids=torch.tensor([[token]]),
                                 past_key_values=out.past_key_values, use_cache=True)

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """One forward over context + continuation per request (exact, unbatched)."""
        torch = self.torch
        results = []
        with torch.inference_mode():
            for r in requests:
                ids = torch.tensor([list(r.context) + list(r.continuation)])
                logits = self.model(input_ids=ids).logits[0].float()
                n = len(r.continuation)
                rows = logits[len(r.context) - 1: len(r.context) - 1 + n]
                logp = torch.log_softmax(rows, dim=-1)
                target = torch.tensor(r.continuation)
                lp = float(logp[torch.arange(n), target].sum())
                if lp != lp:
                    raise FloatingPointError("the model produced NaN logits while scoring")
                greedy = bool((rows.argmax(dim=-1) == target).all())
                results.append(ScoreResult(logprob=lp, is_greedy=greedy, n_tokens=n))
        return results

    def logits(self, tokens: Sequence[int]):
        torch = self.torch
        with torch.inference_mode():
            return self.model(input_ids=torch.tensor([list(tokens)])).logits[0].float().numpy()

    def info(self) -> dict:
        return {"torch": self.torch.__version__, "dtype": "float32",
                "torch_threads": self.torch.get_num_threads()}
