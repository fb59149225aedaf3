"""Chat templates, rendered in a sandbox.

A model's chat template is Jinja code written by whoever made the model file, so it is
rendered in jinja2's ImmutableSandboxedEnvironment: no attribute access to internals, no
mutation of passed-in objects. The template comes from the GGUF metadata key
tokenizer.chat_template or an ONNX folder's tokenizer_config.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.errors import ModelError

#: bounds of the sandbox: repetition counts ("x" * n) and the rendered text
MAX_REPEAT = 100_000
MAX_RENDERED = 1 << 20
#: a template renders within this many seconds, and all its range() loops together
#: within this many items
MAX_RENDER_S = 5.0
MAX_RANGE_ITEMS = 1_000_000


def chat_template(model_path: Path) -> str | None:
    """The model's own chat template, or None when it has none."""
    model_path = Path(model_path)
    if model_path.is_dir():
        cfg = model_path / "tokenizer_config.json"
        if not cfg.is_file():
            return None
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ModelError(f"not valid JSON: {e}".splitlines()[0], path=cfg) from None
        except OSError as e:
            raise ModelError(f"cannot read: {e.strerror}", path=cfg) from None
        tpl = data.get("chat_template") if isinstance(data, dict) else None
        return tpl if isinstance(tpl, str) else None
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    try:
        field = GGUFReader(str(model_path)).fields.get("tokenizer.chat_template")
        return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")
    except UnicodeDecodeError as e:  # a template is there, but unreadable: say so
        raise ModelError(f"the GGUF's tokenizer.chat_template is not valid UTF-8 (byte "
                         f"{e.start})", path=model_path) from None
    except (ValueError, OSError, IndexError):
        return None  # not a readable GGUF header: the model is used without a template


def render(template: str, messages: list[dict], *, add_generation_prompt: bool = True,
           bos_token: str = "", eos_token: str = "", source: str | Path = "chat template") -> str:
    """Render messages with the template in a sandbox; template errors name the source."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    def raise_exception(message: str):
        raise TemplateError(message)

    import time

    deadline = time.monotonic() + MAX_RENDER_S
    budget = {"range": MAX_RANGE_ITEMS}

    def check_time():
        if time.monotonic() > deadline:
            raise SecurityError(f"rendering took longer than {MAX_RENDER_S:g} s")

    def bounded_size(n, what: str):
        if isinstance(n, int) and abs(n) > MAX_RENDERED:
            raise SecurityError(f"{what} {n} is larger than the {MAX_RENDERED} characters a "
                                "rendered template may have")

    class Sandbox(ImmutableSandboxedEnvironment):
        """Also bounds `**` (10**10**9 would compute for ever), every string or list that
        `*`, `%`, center, indent or format would build (checked before building it), the
        loops over range() (all of them together) and the time spent rendering."""

        intercepted_binops = frozenset({"**", "*", "%"})

        def call_binop(self, context, operator, left, right):
            check_time()
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError(f"exponent {right} is too large")
            if operator == "*":
                if any(isinstance(x, int) and abs(x) > MAX_REPEAT for x in (left, right)):
                    raise SecurityError("repetition count is too large")
                seq, n = (left, right) if isinstance(right, int) else (right, left)
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    bounded_size(len(seq) * n, "a repetition of")
            if operator == "%" and isinstance(left, str):
                for width in re.findall(r"%[-+ #0]*(\d+)|\.(\d+)", left):
                    bounded_size(int(width[0] or width[1]), "a format width of")
            return super().call_binop(context, operator, left, right)

    def counted_range(*args):
        r = range(*args)
        budget["range"] -= len(r)
        if budget["range"] < 0:
            raise SecurityError(f"loops over range() went past {MAX_RANGE_ITEMS} items")
        for x in r:
            check_time()
            yield x

    def width_filter(name):
        original = env.filters[name]

        def bounded(value, width=80, *args, **kwargs):
            bounded_size(width if isinstance(width, int) else 0, f"{name} width")
            return original(value, width, *args, **kwargs)
        return bounded

    env = Sandbox(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["range"] = counted_range
    for name in ("center", "indent"):
        env.filters[name] = width_filter(name)
    original_format = env.filters["format"]

    def bounded_format(value, *args, **kwargs):
        if isinstance(value, str):
            for width in re.findall(r"%[-+ #0]*(\d+)|\.(\d+)", value):
                bounded_size(int(width[0] or width[1]), "a format width of")
        return original_format(value, *args, **kwargs)

    env.filters["format"] = bounded_format
    try:
        parts, size = [], 0
        for chunk in env.from_string(template).generate(
                messages=messages, add_generation_prompt=add_generation_prompt,
                bos_token=bos_token, eos_token=eos_token):
            size += len(chunk)
            if size > MAX_RENDERED:
                raise SecurityError(f"rendered more than the {MAX_RENDERED} characters "
                                    "allowed")
            check_time()
            parts.append(chunk)
        out = "".join(parts)
    except (TemplateError, ArithmeticError, ValueError, TypeError, LookupError,
            AttributeError, RecursionError, MemoryError) as e:
        # a template is someone else's code: any failure is that file's error, one line
        raise ModelError(f"chat template refused or failed: {type(e).__name__}: {e}"
                         .splitlines()[0], path=source) from None
    if len(out) > MAX_RENDERED:
        raise ModelError(f"chat template rendered {len(out)} characters, more than the "
                         f"{MAX_RENDERED} allowed", path=source)
    return out


def template_sha256(template: str) -> str:
    import hashlib

    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def chat_task(prepared: dict, template: str | None, *, source: str | Path) -> dict:
    """A prepared exact-match task whose prompts are rendered as the user message (after
    the task's system message, when it has one) of the model's chat template, with the
    generation prompt added; the task records the template's sha256. A model without a
    template is a ModelError naming the model file."""
    task = prepared["task"]
    if template is None:
        import importlib.util

        hint = ("" if Path(source).is_dir() or importlib.util.find_spec("gguf") else
                " (or none can be read: the gguf package, which reads it, is not installed)")
        raise ModelError(f"task {task['name']!r} sets chat: true, but the model has no chat "
                         f"template{hint}", path=source)
    system = [{"role": "system", "content": task["system"]}] if task.get("system") else []
    items = [{**it, "prompt": render(template, system + [{"role": "user",
                                                          "content": it["prompt"]}],
                                     source=source)} for it in prepared["items"]]
    return {"task": {**task, "chat_template_sha256": template_sha256(template)},
            "items": items}
