"""`sllm-bench prepare`: convert a GGUF model to ONNX (cached)."""

from __future__ import annotations

from harness.cli.common import EPILOG, log
from harness.precision import CHOICES as PRECISIONS
from harness.precision import DEFAULT as DEFAULT_PRECISION


def register(sub) -> None:
    prep = sub.add_parser("prepare", help="convert a GGUF model to ONNX (cached)",
                          description="GGUF -> transformers -> safetensors -> "
                          "onnxruntime-genai model builder (-> the GGUF's own weight blocks "
                          "for --precision gguf); cached by sha256 and precision recipe.",
                          epilog=EPILOG)
    prep.add_argument("model", help="catalogue id or path to a .gguf file")
    prep.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                      help="gguf: the GGUF's own quantized blocks in MatMulNBits, not "
                           "re-quantized (default); int4-rtn: the builder's re-quantized int4 "
                           "(old name: int4); fp32: dequantized float32")
    prep.set_defaults(handler=cmd_prepare)


def cmd_prepare(args) -> int:
    from harness import api

    print(api.prepare(args.model, args.precision, models_file=args.models_file, log=log))
    return 0
