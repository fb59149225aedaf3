"""Task specs (tasks/*.yaml) and prepare(): validation, data checks, one-line errors."""

import hashlib
import json
import pickle

import pytest

from conftest import ROOT, write
from harness.data import tasks as T
from harness.errors import ConfigError, DataError

SHIPPED_DEFAULTS = ["mc_en", "mc_ko", "prose_en", "prose_ko"]


@pytest.fixture
def repo(monkeypatch):
    """The real project folder (its tasks/), evaluation data at ../shared/evaldata."""
    monkeypatch.setenv("SLLM_BENCH_HOME", str(ROOT))
    return ROOT


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MC_ROWS = [{"query": "Is fire hot?", "choices": ["no", "yes"], "gold": 1},
           {"query": "Is ice hot?", "choices": ["no", "yes"], "gold": 0},
           {"query": "Sky colour?", "choices": ["red", "blue", "green"], "gold": 1}]


def mc_task(project, *, rows=MC_ROWS, extra="", sha256=True, name="tiny", raw=None):
    data = project / "tasks" / "data" / "tiny.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(raw if raw is not None else
                    "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    digest = sha(data) if sha256 is True else sha256
    lines = [f"name: {name}", "version: 3", "kind: multiple_choice", "language: en",
             "data:", "  path: data/tiny.jsonl", "  format: mc_jsonl",
             *([f"  sha256: {digest}"] if digest else []),
             "prompt:", '  template: "Q: {query}\\nA:"']
    (project / "tasks" / f"{name}.yaml").write_text("\n".join(lines) + "\n" + extra)
    return data


# ---------------------------------------------------------------- shipped tasks
def test_every_shipped_task_loads(repo):
    names = T.list_tasks()
    assert {"prose_en", "prose_ko", "mc_en", "mc_ko", "qa_en", "qa_ko", "arc_easy", "boolq",
            "hellaswag", "wikitext2", "wikitext2_llamacpp", "kobest_copa", "kobest_hellaswag",
            "kobest_boolq", "kmmlu"} <= set(names)
    for name in names:
        spec = T.load_task(name)
        assert spec.name == name and spec.version >= 1
        assert spec.data.sha256, f"{name} has no sha256"
    assert T.default_tasks() == SHIPPED_DEFAULTS


@pytest.mark.parametrize("name", ["prose_en", "prose_ko", "mc_en", "mc_ko", "qa_en", "qa_ko"])
def test_offline_sets_prepare_and_match_their_checksums(repo, name):
    prepared = T.prepare(T.load_task(name))
    task, items = prepared["task"], prepared["items"]
    assert task["name"] == name and task["version"] == 1 and len(task["data_sha256"]) == 64
    assert task["n_items"] == len(items) > 0
    pickle.dumps(prepared)  # plain data for the worker
    if task["kind"] == "multiple_choice":
        assert 30 <= len(items) <= 40
        assert all(len(it["choices"]) == 4 and 0 <= it["gold"] < 4 for it in items)
    if task["kind"] == "exact_match":
        assert len(items) == 20
    if task["kind"] == "perplexity":
        text = items[0]["text"]
        words = len(text.split())
        assert (2500 <= words <= 3500) if name == "prose_en" else (2000 <= words <= 3500)


def test_shipped_data_is_not_shared_evaldata():
    assert not any(p.suffix in (".tsv", ".csv", ".raw") for p in (ROOT / "tasks").rglob("*"))


def test_evaldata_tasks_prepare_when_present(repo):
    if not T.evaldata_root().is_dir():
        pytest.skip("shared evaluation data absent")
    expected = {"arc_easy": 2376, "boolq": 3270, "hellaswag": 10042, "kobest_copa": 1000,
                "kobest_hellaswag": 500, "kobest_boolq": 1404, "kmmlu": 2530,
                "wikitext2": 1, "wikitext2_llamacpp": 1}
    for name, n in expected.items():
        task = T.prepare(T.load_task(name))["task"]
        assert task["n_items"] == n, name


def test_evaldata_root_from_environment(repo, monkeypatch, tmp_path):
    monkeypatch.delenv("SLLM_BENCH_EVALDATA", raising=False)
    assert T.evaldata_root() == ROOT.parent / "shared" / "evaldata"
    monkeypatch.setenv("SLLM_BENCH_EVALDATA", str(tmp_path))
    assert T.evaldata_root() == tmp_path


# ---------------------------------------------------------------- spec errors
def test_unknown_task_lists_known(project):
    mc_task(project)
    with pytest.raises(ConfigError, match=r"unknown task 'nope' \(known: tiny\)"):
        T.load_task("nope")


def test_unknown_key_names_file_and_key(project):
    mc_task(project, extra="multiple_choice:\n  add_bos: true\n  shots: 5\n")
    path = project / "tasks" / "tiny.yaml"
    with pytest.raises(ConfigError) as e:
        T.load_task("tiny")
    assert str(e.value) == f"{path}: unknown key 'multiple_choice.shots'"


@pytest.mark.parametrize("old, new, message", [
    ("multiple_choice", "ranking", r"tiny.yaml: key 'kind'"),  # unknown kind
    ("format: mc_jsonl", "format: text", "format 'text' gives perplexity items"),
    ("format: mc_jsonl", "format: mc_jsonl\n  newline: lf",
     "'newline' does not apply to format 'mc_jsonl'"),
])
def test_kind_format_and_loader_options_must_fit(project, old, new, message):
    mc_task(project)
    p = project / "tasks" / "tiny.yaml"
    p.write_text(p.read_text().replace(old, new))
    with pytest.raises(ConfigError, match=message):
        T.load_task("tiny")


def test_section_of_another_kind_is_an_error(project):
    mc_task(project, extra="perplexity:\n  context_tokens: 64\n")
    with pytest.raises(ConfigError, match="section 'perplexity' does not apply"):
        T.load_task("tiny")


def test_name_must_match_file(project):
    mc_task(project, name="tiny")
    (project / "tasks" / "other.yaml").write_text(
        (project / "tasks" / "tiny.yaml").read_text())
    with pytest.raises(ConfigError, match="'tiny' does not match the file name 'other'"):
        T.load_task("other")


def test_bad_sha_pattern(project):
    mc_task(project, sha256="abc")
    with pytest.raises(ConfigError, match="not 64 lowercase hex"):
        T.load_task("tiny")


# ---------------------------------------------------------------- prepare
def test_prepare_renders_plain_data(project):
    data = mc_task(project)
    out = T.prepare(T.load_task("tiny"))
    task = out["task"]
    assert task["name"] == "tiny" and task["version"] == 3 and task["kind"] == "multiple_choice"
    assert task["data_path"] == str(data) and task["data_sha256"] == sha(data)
    assert task["n_items"] == 3 and task["limit"] is None
    assert task["template"] == "Q: {query}\nA:" and task["choice_template"] == " {choice}"
    assert out["items"][0] == {"context": "Q: Is fire hot?\nA:", "continuations": [" no", " yes"],
                               "choices": ["no", "yes"], "gold": 1}


def test_limit_takes_the_first_items(project):
    mc_task(project)
    out = T.prepare(T.load_task("tiny"), limit=2)
    assert [it["gold"] for it in out["items"]] == [1, 0]
    assert out["task"]["limit"] == 2 and out["task"]["n_items"] == 2


def test_sha_mismatch_names_file_and_both_prefixes(project):
    data = mc_task(project, sha256="'" + "0" * 64 + "'")
    with pytest.raises(DataError) as e:
        T.prepare(T.load_task("tiny"))
    msg = str(e.value)
    assert msg.startswith(f"{data}: sha256 mismatch: expected 000000000000")
    assert sha(data)[:12] in msg and "\n" not in msg


def test_missing_file(project):
    data = mc_task(project)
    data.unlink()
    with pytest.raises(DataError, match=r"tiny.jsonl: data file not found"):
        T.prepare(T.load_task("tiny"))


def test_malformed_line_is_named(project):
    raw = json.dumps(MC_ROWS[0]) + "\n" + json.dumps(MC_ROWS[1]) + "\n{not json\n"
    data = mc_task(project, raw=raw)
    with pytest.raises(DataError) as e:
        T.prepare(T.load_task("tiny"))
    assert str(e.value).startswith(f"{data}: line 3: not valid JSON")


def test_choice_index_out_of_range_is_named(project):
    rows = MC_ROWS[:1] + [{"query": "q", "choices": ["a", "b"], "gold": 2}]
    mc_task(project, rows=rows)
    with pytest.raises(DataError, match="line 2: gold index 2 out of range for 2 choices"):
        T.prepare(T.load_task("tiny"))


def test_template_field_must_exist(project):
    mc_task(project)
    p = project / "tasks" / "tiny.yaml"
    p.write_text(p.read_text().replace("Q: {query}", "Q: {question}"))
    with pytest.raises(ConfigError, match=r"key 'prompt.template': template field \{question\}"):
        T.prepare(T.load_task("tiny"))


def test_data_dir_overrides_location(project, tmp_path_factory):
    data = mc_task(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / data.name).write_bytes(data.read_bytes())
    data.unlink()
    out = T.prepare(T.load_task("tiny"), data_dir=elsewhere)
    assert out["task"]["data_path"] == str(elsewhere / data.name)
    with pytest.raises(DataError, match="data file not found"):
        T.prepare(T.load_task("tiny"))


def test_no_sha_means_no_check(project):
    data = mc_task(project, sha256=False)
    out = T.prepare(T.load_task("tiny"))
    assert out["task"]["data_sha256"] == sha(data)


def km_task(project, shas: dict) -> None:
    listing = "".join(f"\n            {k}: {v}" for k, v in shas.items())
    write(project / "tasks" / "km.yaml", f"""
        name: km
        version: 1
        kind: multiple_choice
        language: ko
        data:
          path: data/k
          format: kmmlu_csv
          subjects: [a, b]
          sha256:{listing}
        prompt:
          template: "{{question}}\\nA. {{A}}\\nB. {{B}}\\nC. {{C}}\\nD. {{D}}\\n정답："
        """)


def test_multi_file_subjects_need_a_sha_per_file(project):
    folder = project / "tasks" / "data" / "k"
    a = write(folder / "a-test.csv", "question,answer,A,B,C,D\nq1,2,w,x,y,z\n")
    b = write(folder / "b-test.csv", "question,answer,A,B,C,D\nq2,4,w,x,y,z\n")
    km_task(project, {"a-test.csv": sha(a)})
    with pytest.raises(ConfigError, match="key 'data.sha256': no entry for 'b-test.csv'"):
        T.prepare(T.load_task("km"))
    km_task(project, {"a-test.csv": sha(a), "b-test.csv": sha(b)})
    out = T.prepare(T.load_task("km"))
    assert [it["gold"] for it in out["items"]] == [1, 3]
    assert out["items"][0]["context"] == "q1\nA. w\nB. x\nC. y\nD. z\n정답："
    assert out["task"]["data_files"] == {"a-test.csv": sha(a), "b-test.csv": sha(b)}
    listing = f"{sha(a)}  a-test.csv\n{sha(b)}  b-test.csv\n"
    assert out["task"]["data_sha256"] == hashlib.sha256(listing.encode()).hexdigest()


def test_perplexity_limit_is_left_to_the_scenario(project):
    text = project / "tasks" / "data" / "t.txt"
    write(text, "one two three\n")
    write(project / "tasks" / "ppl.yaml", f"""
        name: ppl
        version: 1
        kind: perplexity
        language: en
        data: {{path: data/t.txt, format: text, sha256: {sha(text)}}}
        perplexity: {{context_tokens: 8, stride: 4}}
        """)
    out = T.prepare(T.load_task("ppl"), limit=2)
    assert out["items"] == [{"text": "one two three"}]
    assert out["task"]["limit"] == 2 and out["task"]["mode"] == "rolling"
    assert out["task"]["context_tokens"] == 8 and out["task"]["stride"] == 4
