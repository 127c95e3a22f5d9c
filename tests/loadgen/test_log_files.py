"""Log file naming and the clear errors raised where the official LoadGen silently gives up."""

from __future__ import annotations

import os
import re

import pytest

from loadgen._log_files import (
    LogOutputError,
    current_test_datetime,
    log_file_paths,
    open_log_files,
)
from loadgen._settings import LogOutputSettings


def output(outdir: object, **fields: object) -> LogOutputSettings:
    out = LogOutputSettings()
    out.outdir = outdir
    for k, v in fields.items():
        setattr(out, k, v)
    return out


def test_default_names(tmp_path):
    files = open_log_files(output(str(tmp_path)))
    files.close()
    assert sorted(os.listdir(tmp_path)) == [
        "mlperf_log_accuracy.json",
        "mlperf_log_detail.txt",
        "mlperf_log_summary.txt",
        "mlperf_log_trace.json",
    ]
    assert files.detail_path == os.path.join(str(tmp_path), "mlperf_log_detail.txt")


def test_prefix_datetime_and_suffix_as_officially_named(tmp_path):
    out = output(tmp_path, prefix="run_", suffix="_sfx", prefix_with_datetime=True)
    paths = log_file_paths(out, "2026-11-22T21:37:35Z")
    assert os.path.basename(paths["accuracy"]) == "run_2026-11-22T21:37:35Z_accuracy_sfx.json"
    assert os.path.basename(paths["summary"]) == "run_2026-11-22T21:37:35Z_summary_sfx.txt"
    files = open_log_files(out)
    files.close()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", files.test_datetime)
    assert os.path.exists(files.trace_path) and files.test_datetime in files.trace_path


def test_files_are_truncated_and_empty_until_written(tmp_path):
    (tmp_path / "mlperf_log_trace.json").write_text("old")
    files = open_log_files(output(tmp_path))
    files.close()
    assert (tmp_path / "mlperf_log_trace.json").read_text() == ""


def test_missing_directory_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(LogOutputError, match=re.escape(f"'{missing}' does not exist")):
        open_log_files(output(str(missing)))
    assert isinstance(LogOutputError("x"), OSError)


def test_a_file_as_directory_is_a_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(LogOutputError, match="is not a directory"):
        open_log_files(output(str(f)))


def test_an_uncreatable_file_names_the_file_and_leaves_nothing_open(tmp_path):
    with pytest.raises(LogOutputError, match=r"cannot create log file .*sub/x_summary\.txt"):
        open_log_files(output(str(tmp_path), prefix="sub/x_"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_directory_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(LogOutputError, match="not writable"):
            open_log_files(output(str(ro)))
    finally:
        ro.chmod(0o700)


def test_datetime_stamp_format():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", current_test_datetime())
