"""Chat templates, rendered in a sandbox.

A model's chat template is Jinja code written by whoever made the model file, so it is
rendered in jinja2's ImmutableSandboxedEnvironment: no attribute access to internals, no
mutation of passed-in objects. The template comes from the GGUF metadata key
tokenizer.chat_template or an ONNX folder's tokenizer_config.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ModelError


def chat_template(model_path: Path) -> str | None:
    """The model's own chat template, or None when it has none."""
    model_path = Path(model_path)
    if model_path.is_dir():
        cfg = model_path / "tokenizer_config.json"
        if cfg.is_file():
            tpl = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
            return tpl if isinstance(tpl, str) else None
        return None
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    try:
        field = GGUFReader(str(model_path)).fields.get("tokenizer.chat_template")
        return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")
    except (ValueError, OSError, UnicodeDecodeError, IndexError):
        return None  # not a readable GGUF header: the model is used without a template


def render(template: str, messages: list[dict], *, add_generation_prompt: bool = True,
           bos_token: str = "", eos_token: str = "", source: str | Path = "chat template") -> str:
    """Render messages with the template in a sandbox; template errors name the source."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template).render(
            messages=messages, add_generation_prompt=add_generation_prompt,
            bos_token=bos_token, eos_token=eos_token)
    except TemplateError as e:
        raise ModelError(f"chat template refused or failed: {type(e).__name__}: {e}",
                         path=source) from None
