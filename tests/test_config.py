"""Config errors: one line naming the file and the key, exit code 2, no traceback."""

import pytest

from conftest import run_cli, write
from harness.config import load_catalogue, load_device
from harness.errors import ConfigError


def test_unknown_model_key_names_file_and_key(tmp_path):
    p = write(tmp_path / "models.yaml", """
        default: a
        models:
          - id: a
            format: gguf
            source: {kind: path, path: a.gguf}
            sha265: abc
    """)
    with pytest.raises(ConfigError) as e:
        load_catalogue(p)
    assert str(e.value) == f"{p}: unknown key 'models.0.sha265'"


def test_unknown_key_inside_a_source(tmp_path):
    p = write(tmp_path / "models.yaml", """
        default: a
        models:
          - {id: a, format: gguf, source: {kind: path, path: a.gguf, mirror: x}}
    """)
    with pytest.raises(ConfigError, match=r"unknown key 'models\.0\.source\.mirror'"):
        load_catalogue(p)


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    p = write(tmp_path / "models.yaml", "default: a\nmodels:\n  - id: [a\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error at line \d+, column \d+"):
        load_catalogue(p)


def test_default_must_exist(tmp_path):
    p = write(tmp_path / "models.yaml", """
        default: b
        models:
          - {id: a, format: gguf, source: {kind: path, path: a.gguf}}
    """)
    with pytest.raises(ConfigError, match="key 'default': unknown model 'b'"):
        load_catalogue(p)


def test_duplicate_ids_and_bad_sha(tmp_path):
    p = write(tmp_path / "models.yaml", """
        default: a
        models:
          - {id: a, format: gguf, source: {kind: path, path: a.gguf}}
          - {id: a, format: gguf, source: {kind: path, path: b.gguf}}
    """)
    with pytest.raises(ConfigError, match="duplicate model id 'a'"):
        load_catalogue(p)
    write(p, """
        default: a
        models:
          - {id: a, format: gguf, sha256: XYZ, source: {kind: path, path: a.gguf}}
    """)
    with pytest.raises(ConfigError, match=r"key 'models\.0\.sha256'"):
        load_catalogue(p)


def test_device_profile_errors(project):
    write(project / "devices" / "bad.yaml", "name: bad\nthreads: 0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: key 'threads'"):
        load_device("bad")
    write(project / "devices" / "typo.yaml", "name: typo\nthread: 2\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown key 'thread'"):
        load_device("typo")
    write(project / "devices" / "other.yaml", "name: not-other\n")
    with pytest.raises(ConfigError, match="does not match the file name"):
        load_device("other")
    with pytest.raises(ConfigError, match=r"unknown device profile 'nope' \(known: "):
        load_device("nope")


def test_budget_validation(project):
    write(project / "devices" / "b.yaml", "name: b\nbudgets:\n  - {metric: speed, max: 1}\n")
    with pytest.raises(ConfigError, match=r"key 'budgets\.0\.metric'"):
        load_device("b")
    d = load_device(str(write(project / "devices" / "ok.yaml", """
        name: ok
        cores: 1
        threads: all
        budgets:
          - {metric: ttft_ms, max: 500, prompt_tokens: 128}
    """)))
    assert d.budgets[0].max == 500 and d.resolve_threads() == 1 and len(d.cpu_set()) == 1


@pytest.mark.parametrize("args, needle", [
    (["run", "--device", "nope"], "unknown device profile 'nope'"),
    (["run", "--backend", "vllm"], "unknown backend 'vllm'"),
    (["run", "--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["run", "--prompt", "abc"], "--prompt: expected comma-separated integers"),
    (["run", "--reps", "0"], "--reps: must be at least 1"),
    (["run", "--wait-idle", "-1"], "--wait-idle: must be 0 or a positive number of seconds"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(project, args, needle):
    r = run_cli(*args, "--out", str(project / "out"))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not (project / "out").exists()


def test_cli_malformed_catalogue(project):
    write(project / "models.yaml", "default: a\nmodels: [\n")
    r = run_cli("run")
    assert r.returncode == 2
    assert r.stderr.startswith("sllm-bench: error: ") and "models.yaml: YAML syntax error" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_bad_flag_exits_2(project):
    r = run_cli("run", "--format", "xml")
    assert r.returncode == 2 and "invalid choice" in r.stderr
