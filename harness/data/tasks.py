"""Quality tasks: tasks/<name>.yaml -> a frozen TaskSpec -> prepared, picklable data.

One task per file, the file stem equal to `name`. Unknown keys are errors naming the file
and the key (config.validate). A task names its kind (perplexity, multiple_choice,
exact_match, partial_choice, last_word; their parameters are in params.py), its data (a
file under tasks/, or under the shared evaluation-data root when the path starts with
"evaldata/", or a Hugging Face dataset), the data's sha256, prompt templates and the
kind's parameters. prepare() reads and checks the data and
renders the prompts, so a worker receives plain data and needs no file access.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal, Union

from pydantic import Field, PrivateAttr, field_validator, model_validator

from harness.config import project_root, read_yaml, validate
from harness.data.params import (PARAMS, ExactMatchParams, LastWordParams,
                                  MultipleChoiceParams, PartialChoiceParams,
                                  PerplexityParams, invalid)
from harness.errors import ConfigError, DataError
from harness.specs import Strict

SHA256 = r"^[0-9a-f]{64}$"
EVALDATA_PREFIX = "evaldata/"


# ---------------------------------------------------------------- spec
class DataSpec(Strict):
    """Where the items come from. `path` is relative to tasks/ or, starting with
    "evaldata/", to the shared evaluation-data root; a folder when `subjects` are listed
    (files <subject>-<split>.csv for KMMLU, <subject>_<split>.csv for MMLU)."""

    format: Literal["mc_jsonl", "qa_jsonl", "hellaswag_llamacpp", "kobest_copa",
                    "kobest_hellaswag", "kobest_boolq", "kmmlu_csv", "mmlu_csv", "text", "hf",
                    "winogrande_jsonl", "lambada_jsonl", "kobest_sentineg", "kobest_wic",
                    "haerae_json"]
    path: str | None = None
    sha256: Union[str, dict[str, str], None] = Field(
        None, description="sha256 of the data file, or file name -> sha256 for several")
    subjects: list[str] | None = None
    split: str | None = None
    newline: Literal["keep", "lf"] = "keep"
    dataset: str | None = None
    config: str | None = None
    revision: str | None = None
    data_files: Union[str, list[str], dict[str, Union[str, list[str]]], None] = None
    fields: dict[str, Union[str, list[str]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_fit_format(self):
        options = {"text": {"newline"}, "kmmlu_csv": {"subjects", "split"},
                   "mmlu_csv": {"subjects", "split"},
                   "hf": {"dataset", "config", "revision", "data_files", "fields", "split"}}
        allowed = {"format", "path", "sha256"} | options.get(self.format, set())
        extra = sorted(self.model_fields_set - allowed)
        if extra:
            raise invalid(f"'{extra[0]}' does not apply to format '{self.format}'")
        if self.format == "hf":
            if not self.dataset or not self.split:
                raise invalid("format 'hf' needs 'dataset' and 'split'")
        elif not self.path:
            raise invalid(f"format '{self.format}' needs 'path'")
        if self.subjects is not None and not self.subjects:
            raise invalid("'subjects' is empty")
        shas = self.sha256.values() if isinstance(self.sha256, dict) else [self.sha256]
        for s in shas:
            if s is not None and not re.match(SHA256, s):
                raise invalid(f"sha256 {s!r} is not 64 lowercase hex digits")
        return self


class PromptSpec(Strict):
    """Templates, filled with an item's fields by str.format: `template` gives the context
    (or the generation prompt), `choice_template` each continuation ({choice} = the choice
    text). No few-shot examples: every prompt is zero-shot."""

    template: str = "{query}"
    choice_template: str = " {choice}"

    @field_validator("template", "choice_template")
    @classmethod
    def _field_names_only(cls, v: str) -> str:
        """{name} only: no attribute or index access, conversion or format spec (a template
        comes from a file, and str.format would otherwise reach into Python objects)."""
        import string

        try:
            parts = list(string.Formatter().parse(v))
        except ValueError as e:
            raise invalid(f"bad template ({e})") from None
        for _, name, spec, conv in parts:
            if name is not None and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
                                     or spec or conv):
                field = f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
                raise invalid(f"template field {field!r} is not allowed: fields are "
                               "plain names ({query}), without attribute or index access, "
                               "conversion or format spec")
        return v


#: default templates per kind: partial choice fills {context} with each context option
#: and {continuation} with the shared continuation (lm-evaluation-harness's " " target
#: delimiter); last word scores {target} (which carries its leading space) after {context}
KIND_PROMPTS = {"partial_choice": {"template": "{context}", "choice_template": " {continuation}"},
                "last_word": {"template": "{context}", "choice_template": "{target}"}}


class TaskSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: int = Field(ge=0)
    kind: Literal["perplexity", "multiple_choice", "exact_match", "partial_choice",
                  "last_word"]
    language: Literal["en", "ko"]
    description: str = ""
    default: bool = False
    #: what the plain `run` (the default task set) measures of this task: its first N items
    #: (for perplexity, N windows), to keep the README's main job short; naming the task
    #: (--tasks NAME) measures all of it, as does --limit
    default_limit: int | None = Field(None, gt=0)
    data: DataSpec
    prompt: PromptSpec | None = None
    perplexity: PerplexityParams | None = None
    multiple_choice: MultipleChoiceParams | None = None
    exact_match: ExactMatchParams | None = None
    partial_choice: PartialChoiceParams | None = None
    last_word: LastWordParams | None = None
    _source: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _sections_fit_kind(self):
        for k in PARAMS:
            if k != self.kind and getattr(self, k) is not None:
                raise invalid(f"section '{k}' does not apply to kind '{self.kind}'")
        if self.kind == "perplexity" and self.perplexity is None:
            raise invalid("kind 'perplexity' needs a 'perplexity' section "
                             "(at least context_tokens)")
        if self.kind == "perplexity" and self.prompt is not None:
            raise invalid("'prompt' does not apply to kind 'perplexity'")
        from harness.data.loaders import LOADERS

        if self.data.format == "hf" and self.kind in ("partial_choice", "last_word"):
            raise invalid(f"data format 'hf' gives perplexity, multiple_choice or "
                          f"exact_match items, not {self.kind}")
        serves = LOADERS[self.data.format][1]
        if serves is not None and serves != self.kind:
            raise invalid(f"data format '{self.data.format}' gives {serves} items, "
                             f"not {self.kind}")
        return self

    @property
    def params(self):
        """The kind's parameters (its section, or the defaults)."""
        return getattr(self, self.kind) or PARAMS[self.kind]()

    @property
    def prompts(self) -> PromptSpec:
        """The task's templates, or its kind's defaults (KIND_PROMPTS)."""
        return self.prompt or PromptSpec(**KIND_PROMPTS.get(self.kind, {}))

    @property
    def source(self) -> Path:
        """The YAML file the spec was read from (tasks/<name>.yaml when built in code)."""
        return self._source or tasks_dir() / f"{self.name}.yaml"


# ---------------------------------------------------------------- finding tasks
def tasks_dir() -> Path:
    return project_root() / "tasks"


def evaldata_root() -> Path:
    """Shared evaluation data: $SLLM_BENCH_EVALDATA, else <project>/../shared/evaldata."""
    env = os.environ.get("SLLM_BENCH_EVALDATA")
    return Path(env).resolve() if env else project_root().parent / "shared" / "evaldata"


def list_tasks() -> list[str]:
    d = tasks_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def default_tasks() -> list[str]:
    """Tasks marked default: true (the ones a plain `run` measures)."""
    return [n for n in list_tasks() if load_task(n).default]


def load_task(name_or_path: str) -> TaskSpec:
    """A task by name (tasks/<name>.yaml) or by path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.parent != Path("."):
        path = p
    else:
        path = tasks_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(list_tasks()) or "none"
            raise ConfigError(f"unknown task {name_or_path!r} (known: {known})", path=path)
    spec = validate(TaskSpec, read_yaml(path), path)
    if path.stem != spec.name:
        raise ConfigError(f"key 'name': {spec.name!r} does not match the file name "
                          f"{path.stem!r}", path=path)
    spec._source = path  # errors name this file; a relative data.path is relative to it
    return spec


# ---------------------------------------------------------------- data files
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_location(task: TaskSpec) -> Path:
    raw = task.data.path or ""
    if raw.startswith(EVALDATA_PREFIX):
        return evaldata_root() / raw[len(EVALDATA_PREFIX):]
    return task.source.parent / raw


def data_files(task: TaskSpec, data_dir: Path | None = None) -> list[tuple[str, Path]]:
    """(subject or "", file) pairs to read. With data_dir, each file is looked up there by
    its name (or, for evaldata paths, by its path under the evaluation-data root)."""
    d = task.data
    base = _data_location(task)
    if d.subjects:
        sep = "-" if d.format == "kmmlu_csv" else "_"
        split = d.split or "test"
        files = [(s, base / f"{s}{sep}{split}.csv") for s in d.subjects]
    else:
        files = [("", base)]
    if data_dir is None:
        return files
    out = []
    rel_root = (evaldata_root() if (d.path or "").startswith(EVALDATA_PREFIX)
                else task.source.parent)
    for subject, f in files:
        candidates = [Path(data_dir) / f.name]
        try:
            candidates.append(Path(data_dir) / f.relative_to(rel_root))
        except ValueError:
            pass
        out.append((subject, next((c for c in candidates if c.is_file()), candidates[0])))
    return out


def _check_sha(task: TaskSpec, path: Path) -> str:
    if not path.is_file():
        raise DataError("data file not found", path=path)
    actual = sha256_file(path)
    expected = task.data.sha256
    if isinstance(expected, dict):
        if path.name not in expected:
            raise ConfigError(f"key 'data.sha256': no entry for {path.name!r}",
                              path=task.source)
        expected = expected[path.name]
    if expected is not None and actual != expected:
        raise DataError(f"sha256 mismatch: expected {expected[:12]}..., got {actual[:12]}...",
                        path=path)
    return actual


# ---------------------------------------------------------------- prepare
def _render(template: str, fields: dict, where: str, task: TaskSpec) -> str:
    try:
        return template.format_map(fields)
    except KeyError as e:
        known = ", ".join(sorted(k for k in fields if isinstance(k, str)))
        raise ConfigError(f"key '{where}': template field {{{e.args[0]}}} is not in the "
                          f"items (fields: {known})", path=task.source
                          ) from None
    except (ValueError, IndexError) as e:
        raise ConfigError(f"key '{where}': bad template ({e})",
                          path=task.source) from None


def _render_items(task: TaskSpec, items: list[dict]) -> list[dict]:
    pr = task.prompts
    if task.kind == "perplexity":
        return [{"text": it["text"]} for it in items]
    if task.kind == "exact_match":
        return [{"prompt": _render(pr.template, it, "prompt.template", task),
                 "answers": list(it["answers"])} for it in items]
    if task.kind == "partial_choice":
        return [{"contexts": [_render(pr.template, {**it, "context": c}, "prompt.template", task)
                              for c in it["context_options"]],
                 "continuation": _render(pr.choice_template, it, "prompt.choice_template", task),
                 "gold": int(it["gold"])} for it in items]
    if task.kind == "last_word":
        return [{"context": _render(pr.template, it, "prompt.template", task),
                 "target": _render(pr.choice_template, it, "prompt.choice_template", task)}
                for it in items]
    return [{"context": _render(pr.template, it, "prompt.template", task),
             "continuations": [_render(pr.choice_template, {**it, "choice": c},
                                       "prompt.choice_template", task) for c in it["choices"]],
             "choices": list(it["choices"]), "gold": int(it["gold"])} for it in items]


def prepare(task: TaskSpec, *, limit: int | None = None, data_dir: Path | None = None) -> dict:
    """Read, check and render a task's data: {"task": {...}, "items": [...]} (plain data).

    Checks each data file's sha256 against the task's; a missing file, a mismatch, a
    malformed record (with its line) or an out-of-range gold index is a DataError.
    `limit` keeps the first N items; for perplexity it caps the number of scored windows
    instead (the scenario applies it, like llama-perplexity --chunks).
    """
    from harness.data.loaders import LOADERS, load_hf

    if limit is not None and limit <= 0:
        raise ConfigError(f"limit must be a positive integer, got {limit}")
    d = task.data
    info: dict = {}
    if d.format == "hf":
        items, fingerprint = load_hf(dataset=d.dataset, split=d.split, config=d.config,
                                     revision=d.revision, data_files=d.data_files,
                                     fields=d.fields, kind=task.kind)
        info = {"data_path": f"hf:{d.dataset}" + (f"/{d.config}" if d.config else "")
                + f"[{d.split}]", "data_sha256": None, "data_fingerprint": fingerprint}
    else:
        loader = LOADERS[d.format][0]
        files = data_files(task, data_dir)
        if isinstance(d.sha256, str) and len(files) > 1:
            raise ConfigError("key 'data.sha256': several data files need a mapping "
                              "file name -> sha256", path=task.source)
        items, shas = [], {}
        for subject, path in files:
            shas[path.name] = _check_sha(task, path)
            opts = {"newline": d.newline} if d.format == "text" else (
                {"subject": subject} if subject else {})
            items.extend(loader(path, **opts))
        if len(files) == 1:
            info = {"data_path": str(files[0][1]), "data_sha256": shas[files[0][1].name]}
        else:
            listing = "".join(f"{shas[n]}  {n}\n" for n in sorted(shas))
            info = {"data_path": str(files[0][1].parent),
                    "data_sha256": hashlib.sha256(listing.encode()).hexdigest(),
                    "data_files": dict(sorted(shas.items()))}
    if not items:
        raise DataError("no items in the data", path=info.get("data_path"))
    if limit is not None and task.kind != "perplexity":
        items = items[:limit]
    rendered = _render_items(task, items)
    meta = {"name": task.name, "version": task.version, "kind": task.kind,
            "language": task.language, "format": d.format, **info,
            "limit": limit, "n_items": len(rendered),
            **task.params.model_dump()}
    if task.kind != "perplexity":
        meta.update(task.prompts.model_dump())
    return {"task": meta, "items": rendered}
