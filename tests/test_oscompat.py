"""Each OS-specific worker part on each platform (faked): the measurement, or a fallback
that says "not measured: <reason>" instead of failing (harness/measure/oscompat.py)."""

from __future__ import annotations

import os
import sys
import types

import pytest

from harness.measure import oscompat


class FakeProcess:
    def __init__(self, peak=None, affinity=(0, 1)):
        self.peak, self.affinity, self.pinned = peak, list(affinity), None

    def memory_info(self):
        info = types.SimpleNamespace(rss=123)
        if self.peak is not None:
            info.peak_wset = self.peak
        return info

    def cpu_affinity(self, cpus=None):
        if cpus is None:
            return self.affinity
        self.pinned = cpus


@pytest.fixture
def fake_psutil(monkeypatch):
    proc = FakeProcess(peak=5 * 2**20)
    monkeypatch.setattr("psutil.Process", lambda *a: proc)
    return proc


def test_windows_pins_through_psutil_and_reads_peak_working_set(fake_psutil):
    assert oscompat.pin([1], system="win32") == "cpu_affinity"
    assert fake_psutil.pinned == [1]
    assert oscompat.peak_rss("win32") == (5 * 2**20, "peak_wset")
    assert oscompat.allowed_cpus("win32") == [0, 1]
    caps = oscompat.capabilities("win32")
    assert caps["pinning"] == "cpu_affinity" and caps["peak_memory"] == "peak_wset"


def test_windows_without_peak_working_set_says_not_measured(monkeypatch):
    monkeypatch.setattr("psutil.Process", lambda *a: FakeProcess(peak=None))
    value, how = oscompat.peak_rss("win32")
    assert value is None and how.startswith("not measured: ")


def test_macos_has_no_pinning_and_ru_maxrss_in_bytes(monkeypatch):
    pytest.importorskip("resource")
    import resource

    monkeypatch.setattr(resource, "getrusage",
                        lambda who: types.SimpleNamespace(ru_maxrss=7 * 2**20))
    assert oscompat.pin([0], system="darwin").startswith("not measured: macOS")
    assert oscompat.peak_rss("darwin") == (7 * 2**20, "ru_maxrss")
    assert oscompat.peak_rss("freebsd13") == (7 * 2**30, "ru_maxrss")  # KiB there
    assert oscompat.capabilities("darwin")["pinning"].startswith("not measured:")
    assert "not measured" in oscompat.capabilities("darwin")["conditions"]


def test_linux_pins_and_reads_vmhwm():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    allowed = sorted(os.sched_getaffinity(0))
    assert oscompat.pin(allowed, system="linux") == "sched_setaffinity"
    value, how = oscompat.peak_rss("linux")
    assert how == "VmHWM" and value > 0
    assert oscompat.allowed_cpus("linux") == allowed


def test_refused_pinning_is_not_a_failure(monkeypatch):
    def refuse(pid, cpus):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse, raising=False)
    assert oscompat.pin([99], system="linux").startswith("not measured: pinning refused")


def test_environment_records_the_platform():
    from harness.measure.environment import environment

    caps = environment()["platform"]
    assert set(caps) == {"os", "pinning", "peak_memory", "conditions"}
