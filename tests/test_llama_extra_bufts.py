"""llama.cpp's extra weight buffers: probed once on a CPU that reports AMX, cached."""

from __future__ import annotations

import subprocess

import pytest

from harness.backends import llama_extra_bufts as eb
from harness.errors import BenchError


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.setenv("SLLM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(eb, "_key", lambda path, flags: f"{path}|{len(flags)}")
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return str(path)


def _probe(monkeypatch, rc):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, rc)

    monkeypatch.setattr(eb.subprocess, "run", run)
    return calls


def test_no_amx_means_no_probe_and_llama_cpp_default(model, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    calls = _probe(monkeypatch, -11)
    assert eb.decide(model) == (True, "llama.cpp's default")
    assert calls == []


def test_a_crashing_amx_probe_turns_extra_buffers_off_once(model, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: frozenset({"avx2", "amx_int8", "amx_tile"}))
    calls = _probe(monkeypatch, -11)  # SIGSEGV
    extra, why = eb.decide(model)
    assert extra is False and "crashed" in why
    assert eb.decide(model)[0] is False and len(calls) == 1  # cached


def test_a_passing_probe_keeps_the_default(model, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: frozenset({"amx_int8"}))
    _probe(monkeypatch, 0)
    assert eb.decide(model) == (True, "llama.cpp's default (AMX probe passed)")


def test_the_option_overrides_the_probe(model, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: frozenset({"amx_int8"}))
    calls = _probe(monkeypatch, -11)
    assert eb.decide(model, "on") == (True, "set by the extra_bufts option")
    assert eb.decide(model, "off")[0] is False and calls == []


def test_the_option_value_is_checked():
    from harness.backends.llama_cpp import tristate

    assert tristate(True, "extra_bufts") == "on" and tristate("OFF", "extra_bufts") == "off"
    with pytest.raises(BenchError, match="option extra_bufts: expected auto, on or off"):
        tristate("banana", "extra_bufts")
