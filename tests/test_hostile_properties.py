"""Issue 14, property-based: every place that takes outside input gives, for any input,
either a valid object or the project's one-line error (a BenchError, exit code 2), never
another exception. Fixed example budgets and deadlines keep the whole file under a minute.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FAKE_MODELS, write
from harness.errors import BenchError

#: SLLM_BENCH_PROP_EXAMPLES=2000 explores further (and randomly) than CI's fixed budget
EXAMPLES = int(os.environ.get("SLLM_BENCH_PROP_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 200, deadline=2000, derandomize=not EXAMPLES,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=EXAMPLES or 80)

#: text as it can come from a file or argv: no NUL, no lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


def one_line(e: BenchError) -> None:
    assert isinstance(e, BenchError) and str(e) and "\n" not in str(e).strip(), repr(e)


def shaped(keys: dict) -> st.SearchStrategy:
    """Mappings using the schema's keys (values plausible or random) plus stray keys."""
    known = st.fixed_dictionaries({}, optional={k: (v | VALUES) for k, v in keys.items()})
    return st.builds(lambda a, b: {**a, **b}, known, st.dictionaries(TEXT, VALUES, max_size=2))


POSITIVE = st.integers(-3, 10**6)
NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**20, 10**20)
SOURCE = shaped({"kind": st.sampled_from(["path", "package", "hub", "x"]), "path": TEXT,
                 "module": st.sampled_from(["os", "json", "harness", "no.such"]),
                 "distribution": TEXT, "resource": TEXT, "assemble": TEXT, "repo": TEXT,
                 "file": TEXT})
MODEL = shaped({"id": st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True) | TEXT,
                "format": st.sampled_from(["gguf", "onnx", "fake", "pt"]), "source": SOURCE,
                "sha256": st.from_regex(r"[0-9a-f]{64}", fullmatch=True) | TEXT,
                "options": st.dictionaries(TEXT, SCALARS, max_size=3)})
CATALOGUE = shaped({"default": st.sampled_from(["m", "x"]) | TEXT,
                    "models": st.lists(MODEL, max_size=3)})
BUDGET = shaped({"metric": st.sampled_from(["ttft_ms", "decode_tps", "acc", "nope"]),
                 "min": NUMBER | st.none(), "max": NUMBER | st.none(),
                 "prompt_tokens": POSITIVE, "gen_tokens": POSITIVE, "task": TEXT})
DEVICE = shaped({"name": st.just("d") | TEXT, "threads": POSITIVE | st.just("all"),
                 "cores": POSITIVE | st.lists(POSITIVE, max_size=3) | st.just("all"),
                 "memory_mb": POSITIVE, "memory_budget_mb": POSITIVE,
                 "context_size": POSITIVE, "cooldown_s": NUMBER,
                 "conditions": shaped({"other_cpu_max": NUMBER, "temperature_max_c": NUMBER,
                                       "frequency_drop_max": NUMBER}),
                 "hardware": shaped({"cores": POSITIVE, "memory_mb": POSITIVE,
                                     "cpu_model": TEXT}),
                 "budgets": st.lists(BUDGET, max_size=3)})
TEMPLATE = st.lists(st.sampled_from(list("{}[]!:.>0_aq ") + [
    "{query}", "{choice}", "__class__", "{query.", "{query[", "!r", ":>9"]), max_size=12).map("".join)
TASK = shaped({"name": st.just("t"), "version": POSITIVE,
               "kind": st.sampled_from(["perplexity", "multiple_choice", "exact_match", "x"]),
               "language": st.sampled_from(["en", "ko", "fr"]), "default": st.booleans(),
               "data": shaped({"format": st.sampled_from(["mc_jsonl", "text", "hf", "kmmlu_csv"]),
                               "path": st.just("d.jsonl") | TEXT,
                               "sha256": TEXT | st.dictionaries(TEXT, TEXT, max_size=2),
                               "subjects": st.lists(TEXT, max_size=2), "split": TEXT,
                               "newline": st.sampled_from(["keep", "lf", "cr"])}),
               "prompt": shaped({"template": TEMPLATE, "choice_template": TEMPLATE}),
               "perplexity": shaped({"mode": st.sampled_from(["rolling", "llama_cpp"]),
                                     "context_tokens": POSITIVE, "stride": POSITIVE,
                                     "scored_from": POSITIVE}),
               "multiple_choice": shaped({"add_bos": st.booleans(),
                                          "items_per_call": POSITIVE})})
GATE = shaped({"alpha": NUMBER, "confidence": NUMBER, "ignore_params": st.lists(TEXT, max_size=2),
               "default": shaped({"threshold": NUMBER, "rule": TEXT, "tolerance": NUMBER}),
               "metrics": st.dictionaries(st.sampled_from(["decode_tps", "acc"]),
                                          shaped({"threshold": NUMBER}), max_size=2),
               "overrides": st.lists(shaped({"device": TEXT, "task": TEXT}), max_size=2)})


def yaml_file(folder: Path, name: str, data) -> Path:
    path = folder / name
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        text = repr(data)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="sllm-bench-prop-") as d:
        yield Path(d)


# ---------------------------------------------------------------- YAML specs
@SETTINGS
@given(data=CATALOGUE)
def test_any_catalogue(folder, data):
    from harness.config import load_catalogue

    try:
        load_catalogue(yaml_file(folder, "models.yaml", data))
    except BenchError as e:
        one_line(e)


@SETTINGS
@given(data=DEVICE)
def test_any_device_profile(folder, data):
    from harness.config import load_device

    try:
        prof = load_device(str(yaml_file(folder, "d.yaml", data)))
        prof.resolve_threads(), prof.cpu_set()
    except BenchError as e:
        one_line(e)
        return
    # what loads is usable: every number finite, thread and core counts bounded
    import math

    numbers = [v for v in _walk(prof.model_dump()) if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers), numbers
    assert prof.resolve_threads() <= 4096 and len(prof.cpu_set()) <= 4096


def _walk(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from _walk(v)
    else:
        yield x


@SETTINGS
@given(data=TASK)
def test_any_task_spec(folder, data):
    from harness.data.tasks import load_task, prepare

    (folder / "d.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 0}\n')
    try:
        prepare(load_task(str(yaml_file(folder, "t.yaml", data))), limit=2)
    except BenchError as e:
        one_line(e)


@SETTINGS
@given(data=GATE)
def test_any_gate_config(folder, data):
    from harness.gate.config import load

    try:
        cfg = load(yaml_file(folder, "gate.yaml", data))
        cfg.rule("decode_tps", "tokens/s", "host", "speed")
    except BenchError as e:
        one_line(e)


@SETTINGS
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_yaml_text(folder, text):
    from harness.config import load_catalogue, load_device

    path = folder / "raw.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    for load in (load_catalogue, lambda p: load_device(str(p))):
        try:
            load(path)
        except BenchError as e:
            one_line(e)


# ---------------------------------------------------------------- data loaders
LINE = (st.builds(json.dumps, VALUES) | st.builds(
    lambda q, c, g: json.dumps({"query": q, "choices": c, "gold": g}), VALUES,
    st.lists(VALUES, max_size=4), VALUES) | TEXT
    | st.lists(TEXT, max_size=7).map(lambda xs: "\t".join(xs))
    | st.lists(TEXT, max_size=7).map(lambda xs: ",".join(xs)))


@SETTINGS
@given(lines=st.lists(LINE, max_size=8), fmt=st.sampled_from(
    ["mc_jsonl", "qa_jsonl", "hellaswag_llamacpp", "kobest_copa", "kobest_hellaswag",
     "kobest_boolq", "kmmlu_csv", "mmlu_csv", "text"]), raw=st.binary(max_size=40))
def test_any_data_file(folder, lines, fmt, raw):
    from harness.data.loaders import LOADERS

    path = folder / "data.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + raw)
    try:
        items = LOADERS[fmt][0](path)
        assert isinstance(items, list)
    except BenchError as e:
        one_line(e)


# ---------------------------------------------------------------- results reader
def _good_record() -> dict:
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import speed_record

    return speed_record().to_dict()


PATHS = st.lists(st.sampled_from(["measurements", 0, 1, "samples", "summary", "median",
                                  "model", "params", "task", "kind", "schema_version",
                                  "status", "unit", "metric", "error", "env"]), max_size=4)


def _mutate(doc, path, value):
    node = doc
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return doc
    try:
        node[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return doc


@SETTINGS
@given(edits=st.lists(st.tuples(PATHS.filter(bool), VALUES), max_size=3),
       raw=st.none() | st.binary(max_size=80))
def test_any_record_file(folder, edits, raw):
    from harness.records import read_record

    doc = _good_record()
    for path, value in edits:
        doc = _mutate(doc, path, value)
    path = folder / "r.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    try:
        rec = read_record(path)
        rec.label(), rec.key(), rec.when(), [rec.stat(m) for m in rec.metrics()]
    except BenchError as e:
        one_line(e)


# ---------------------------------------------------------------- GGUF header reader
GGUF_HEAD = st.builds(lambda v, t, k, body: b"GGUF" + struct.pack("<IQQ", v, t, k) + body,
                      st.sampled_from([1, 2, 3, 4, 2**32 - 1]),
                      st.integers(0, 2**64 - 1) | st.integers(0, 4),
                      st.integers(0, 2**64 - 1) | st.integers(0, 4), st.binary(max_size=200))


@FEW
@given(content=GGUF_HEAD | st.binary(max_size=64))
def test_any_gguf_file(folder, content):
    from harness.models import check_gguf_header, resolve, trained_context
    from harness.specs import ModelSpec

    path = folder / "m.gguf"
    path.write_bytes(content)
    spec = ModelSpec(id="m", format="gguf", source={"kind": "path", "path": str(path)})
    for check in (lambda: check_gguf_header(path), lambda: resolve(spec, folder)):
        try:
            check()
        except BenchError as e:
            one_line(e)
    assert trained_context(path, "gguf") is None or trained_context(path, "gguf") > 0


# ---------------------------------------------------------------- CLI flag parsers
FLAG_VALUE = (TEXT | st.integers(-10**25, 10**25).map(str)
              | st.lists(st.integers(-5, 10**9), max_size=4).map(lambda v: ",".join(map(str, v)))
              | st.sampled_from(["nan", "inf", "-inf", "1e309", "0", "-0", "1,,2", " ", "text:x",
                                 "text:../x", "k=v", "=", "k=", "flash_attn=on"]))
FLAGS = ["--model", "--backend", "--device", "--prompt", "--gen", "--depth", "--prompt-source",
         "--set", "--threads", "--reps", "--warmup", "--timeout", "--precision", "--format",
         "--tasks", "--limit", "--data-dir"]


@pytest.fixture(scope="module")
def fake_project():
    with tempfile.TemporaryDirectory(prefix="sllm-bench-prop-proj-") as d:
        root = Path(d)
        write(root / "models.yaml", FAKE_MODELS)
        (root / "fake.bin").write_bytes(b"fake model weights\n")
        write(root / "devices" / "host.yaml", "name: host\nthreads: 1\ncores: all\n")
        saved = {k: os.environ.get(k) for k in ("SLLM_BENCH_HOME", "SLLM_BENCH_TEST_BACKENDS")}
        os.environ.update(SLLM_BENCH_HOME=str(root), SLLM_BENCH_TEST_BACKENDS="1")
        try:
            yield root
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@SETTINGS
@given(flags=st.lists(st.tuples(st.sampled_from(FLAGS), FLAG_VALUE), max_size=4))
def test_any_run_flags(fake_project, flags):
    from harness import api
    from harness.cli import build_parser
    from harness.cli.run import request_from_args

    argv = ["run", "-b", "fake", "--tasks", "none"] + [x for f, v in flags for x in (f, v)]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: a usage line and exit code 2
        assert e.code == 2
        return
    try:
        api.plan(request_from_args(args))
    except BenchError as e:
        one_line(e)


@SETTINGS
@given(value=FLAG_VALUE)
def test_any_list_and_number_flag(value):
    from harness import api
    from harness.cli.common import depth_list, parse_settings

    for parse in (lambda: api.parse_int_list(value, "--prompt"), lambda: depth_list(value),
                  lambda: parse_settings([value]),
                  lambda: api.run_request(timeout=float(value))):
        try:
            parse()
        except ValueError:
            pass  # float(value): argparse's type=float refuses it first (exit 2)
        except BenchError as e:
            one_line(e)


@FEW
@given(template=st.text(st.sampled_from(list("{}%#()*/+-|.'\"0123456789 abcdefghijklmnopqrstuvwxyz_")),
                        max_size=40)
       | st.sampled_from(["{{ range(10**9)|list }}", "{{ 9**9**9 }}", "{{ 'a' * 10**8 }}",
                          "{{ messages[0].content.__class__ }}", "{% for x in 1 %}{% endfor %}"]))
def test_any_chat_template(template):
    from harness.data.chat import render

    try:
        assert isinstance(render(template, [{"role": "user", "content": "hi"}]), str)
    except BenchError as e:
        one_line(e)


# ---------------------------------------------------------------- GGUF key-value section
def _gguf_string(b: bytes, claimed: int | None = None) -> bytes:
    return struct.pack("<Q", len(b) if claimed is None else claimed) + b


#: one GGUF value of a scalar type (0-7, 10-12), a string (8) or an array (9) whose element
#: type, claimed length and body are each honest or hostile
GGUF_SCALAR = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12]).flatmap(
    lambda t: st.binary(min_size=0, max_size=9).map(lambda b: struct.pack("<I", t) + b))
GGUF_STR = st.builds(lambda b, c: struct.pack("<I", 8) + _gguf_string(b, c),
                     st.binary(max_size=12), st.none() | st.integers(0, 2**64 - 1))
GGUF_ARRAY = st.builds(
    lambda et, n, body: struct.pack("<IIQ", 9, et, n) + body,
    st.sampled_from([0, 4, 6, 8, 9, 12, 13, 2**32 - 1]),
    st.integers(0, 6) | st.integers(0, 2**64 - 1) | st.sampled_from([2**61, 2**63 // 3]),
    st.binary(max_size=48))
GGUF_KV = st.builds(lambda key, claim, value: _gguf_string(key, claim) + value,
                    st.sampled_from([b"general.architecture", b"llama.context_length",
                                     b"tokenizer.ggml.tokens", b""]) | st.binary(max_size=8),
                    st.none() | st.sampled_from([70000, 2**64 - 1]),
                    GGUF_SCALAR | GGUF_STR | GGUF_ARRAY | st.binary(max_size=8))
GGUF_WITH_KV = st.builds(
    lambda n_kv, kvs, tail: b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + b"".join(kvs) + tail,
    st.integers(0, 4) | st.just(2**64 - 1), st.lists(GGUF_KV, max_size=4),
    st.binary(max_size=16))


@SETTINGS
@given(content=GGUF_WITH_KV)
def test_any_gguf_key_value_section(folder, content):
    """Crafted key-value sections (array lengths and element types, string lengths,
    nesting) give a resolved model or one ModelError line, bounded in time by the deadline."""
    from harness.gguf_scan import scan
    from harness.models import check_gguf_header, resolve
    from harness.specs import ModelSpec

    path = folder / "kv.gguf"
    path.write_bytes(content)
    spec = ModelSpec(id="m", format="gguf", source={"kind": "path", "path": str(path)})
    for check in (lambda: check_gguf_header(path), lambda: scan(path),
                  lambda: resolve(spec, folder)):
        try:
            check()
        except BenchError as e:
            one_line(e)


# ---------------------------------------------------------------- genai_config.json
NAMES = st.sampled_from(["past_key_values.%d.key", "past.%d", "%d", "%s", "x"]) | TEXT
DECODER = shaped({
    "filename": st.sampled_from(["model.onnx", "../model.onnx", "/etc/passwd", "", "nope.onnx"])
    | TEXT,
    "num_hidden_layers": NUMBER, "num_key_value_heads": NUMBER, "head_size": NUMBER,
    "sliding_window": shaped({"window_size": NUMBER}) | NUMBER,
    "session_options": st.dictionaries(TEXT, VALUES, max_size=3) | VALUES,
    "inputs": shaped({"input_ids": TEXT, "past_key_names": NAMES, "past_value_names": NAMES}),
    "outputs": shaped({"logits": TEXT, "present_key_names": NAMES,
                       "present_value_names": NAMES})})
GENAI = shaped({"model": shaped({"decoder": DECODER, "context_length": NUMBER,
                                 "vocab_size": NUMBER,
                                 "eos_token_id": NUMBER | st.lists(NUMBER, max_size=3)}),
                "search": shaped({"past_present_share_buffer": VALUES,
                                  "max_length": NUMBER})})


@SETTINGS
@given(cfg=GENAI, raw=st.none() | st.binary(max_size=40))
def test_any_genai_config(folder, cfg, raw):
    """Any genai_config.json gives the folder's facts or one ModelError line: the ONNX
    backends' reader, the catalogue's folder check and the trained context."""
    from harness.backends.onnx_common import load_onnx_model
    from harness.models import check_onnx_folder, trained_context

    model_dir = folder / "onnx"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "model.onnx").write_bytes(b"not really onnx")
    text = raw if raw is not None else json.dumps(cfg, allow_nan=True).encode("utf-8")
    (model_dir / "genai_config.json").write_bytes(text)
    for check in (lambda: load_onnx_model(model_dir), lambda: check_onnx_folder(model_dir)):
        try:
            check()
        except BenchError as e:
            one_line(e)
    ctx = trained_context(model_dir, "onnx")
    assert ctx is None or (isinstance(ctx, int) and ctx > 0)


# ---------------------------------------------------------------- samples against summaries
@SETTINGS
@given(samples=st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**20, 10**20)
                        | TEXT | st.none(), max_size=6),
       claim=NUMBER | TEXT | st.none(), which=st.integers(0, 5))
def test_any_samples_against_their_summary(folder, samples, claim, which):
    """A record whose samples or claimed summary are anything: read_record recomputes the
    summary from the samples and either agrees or refuses the file in one line."""
    from harness.records import read_record

    doc = _good_record()
    ms = doc["measurements"]
    m = ms[which % len(ms)]
    m["samples"] = samples
    m.setdefault("summary", {})["median"] = claim
    path = folder / "s.json"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    try:
        rec = read_record(path)
    except BenchError as e:
        one_line(e)
        return
    # what was accepted is what the samples say
    xs = rec.samples(m["metric"])
    assert all(isinstance(x, float) and x == x and abs(x) != float("inf") for x in xs)
