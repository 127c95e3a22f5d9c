"""--synthetic checks the memory its data set needs before allocating anything."""

from __future__ import annotations

import subprocess

import pytest

from qdl import ConfigError, SyntheticQSL, SyntheticSpec
from qdl._memory import available_bytes
from tests.conftest import LON_RUN, ROOT


def test_meminfo_is_read_in_bytes(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  2048 kB\nMemAvailable:    1000 kB\n")
    assert available_bytes(str(meminfo)) == 1_024_000
    assert available_bytes(str(tmp_path / "missing")) is None
    meminfo.write_text("MemTotal:  2048 kB\n")
    assert available_bytes(str(meminfo)) is None


def test_a_data_set_larger_than_memory_is_refused_before_allocating():
    spec = SyntheticSpec((1000, 1000), "float64", 20)  # 8 MB a sample
    with pytest.raises(ConfigError) as info:
        SyntheticQSL(spec, performance_count=10, available_memory=50_000_000)
    text = str(info.value)
    assert "80,000,000 bytes" in text and "8,000,000 bytes per sample x 10 samples" in text
    assert "50,000,000 bytes of memory are available" in text
    # The same data set fits in more memory, and an unknown amount is not checked.
    SyntheticQSL(spec, performance_count=10, available_memory=80_000_000)
    SyntheticQSL(spec, performance_count=10, available_memory=None)


def test_lon_run_with_an_absurd_synthetic_shape_says_so_in_one_line(tmp_path):
    proc = subprocess.run(
        [*LON_RUN, "--nodes", "127.0.0.1:9", "--scenario", "Offline", "--output",
         str(tmp_path), "--synthetic", "100000x100000x100000:float64:1024"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "8,000,000,000,000,000 bytes per sample" in lines[0]
    assert "bytes of memory are available" in lines[0]
