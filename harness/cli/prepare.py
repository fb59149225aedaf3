"""`sllm-bench prepare`: convert a GGUF model to ONNX (cached)."""

from __future__ import annotations

from harness.cli.common import EPILOG, log


def register(sub) -> None:
    prep = sub.add_parser("prepare", help="convert a GGUF model to ONNX (cached)",
                          description="GGUF -> transformers -> safetensors -> "
                          "onnxruntime-genai model builder; cached by sha256 and precision.",
                          epilog=EPILOG)
    prep.add_argument("model", help="catalogue id or path to a .gguf file")
    prep.add_argument("--precision", choices=("int4", "fp32"), default="int4")
    prep.set_defaults(handler=cmd_prepare)


def cmd_prepare(args) -> int:
    from harness import api

    print(api.prepare(args.model, args.precision, models_file=args.models_file, log=log))
    return 0
