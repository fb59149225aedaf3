"""The ONNX precisions a GGUF model is ported at, named in one place.

  gguf      the GGUF's own quantized blocks in the builder's int4 graph (the default; see
            harness/prepare/onnx.py and docs/faithful-port.md)
  int4-rtn  the model builder's re-quantized int4 ("int4" is accepted as its old name)
  fp32      the dequantized weights in float32

An ONNX folder taken from the catalogue as it is has no recipe of ours: its records say
"as supplied". Everything else (flags, RunRequest, the converter, the engine, the
leaderboard) reads the names from here. No imports beyond the standard library: the
command line imports this at start-up.
"""

from __future__ import annotations

from enum import Enum


class Precision(str, Enum):
    """A conversion recipe; compares equal to its name (Precision.GGUF == "gguf")."""

    GGUF = "gguf"
    INT4_RTN = "int4-rtn"
    FP32 = "fp32"


#: the recipes' names, in the order they are listed
NAMES: tuple[str, ...] = tuple(p.value for p in Precision)
#: old names still accepted on input -> the recipe's name
ALIASES: dict[str, str] = {"int4": Precision.INT4_RTN.value}
#: every name accepted on input (flags, RunRequest): each recipe followed by its old names
CHOICES: tuple[str, ...] = tuple(n for p in NAMES
                                 for n in (p, *(a for a, to in ALIASES.items() if to == p)))
DEFAULT: str = Precision.GGUF.value
#: the artifact precision of an ONNX folder used as supplied (not prepared by us)
AS_SUPPLIED = "as supplied"


def canonical(name: str) -> str | None:
    """The recipe's name for `name` or one of its old names; None when unknown."""
    name = ALIASES.get(name, name)
    return name if name in NAMES else None
