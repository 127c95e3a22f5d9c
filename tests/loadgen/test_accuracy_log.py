"""The accuracy log: exact layout, thread safety, and byte equality with the official file."""

from __future__ import annotations

import io
import json
import threading

import pytest

from loadgen._accuracy_log import AccuracyLog

from . import official_logs


def written(entries: list[tuple], close: bool = True) -> str:
    out = io.StringIO()
    log = AccuracyLog(out)
    for e in entries:
        log.add(*e)
    if close:
        log.close()
    return out.getvalue()


def test_empty_log_is_four_bytes():
    assert written([]) == "[\n]\n"


def test_entries_one_per_line_uppercase_hex():
    text = written([(0, 227, b"\xe3\xab"), (1, 95, b"\x5f\xab"), (2, 3, b"")])
    assert text == (
        "[\n"
        '{ "seq_id" : 0, "qsl_idx" : 227, "data" : "E3AB" },\n'
        '{ "seq_id" : 1, "qsl_idx" : 95, "data" : "5FAB" },\n'
        '{ "seq_id" : 2, "qsl_idx" : 3, "data" : "" }\n'
        "]\n"
    )
    assert [e["qsl_idx"] for e in json.loads(text)] == [227, 95, 3]


def test_token_variants():
    text = written([(7, 1, b"\x01\x02", b"\x01", 3), (8, 2, b"\x0a", None, 5), (9, 3, b"", b"", 0)])
    lines = text.split("\n")
    assert lines[1] == (
        '{ "seq_id" : 7, "qsl_idx" : 1, "data" : "0102", "token_data" : "01", "token_count" : 3 },'
    )
    assert lines[2] == '{ "seq_id" : 8, "qsl_idx" : 2, "data" : "0A", "token_count" : 5 },'
    assert lines[3] == (
        '{ "seq_id" : 9, "qsl_idx" : 3, "data" : "", "token_data" : "", "token_count" : 0 }'
    )


def test_memoryview_and_bytearray_data():
    assert '"data" : "FF00"' in written(
        [(0, 0, memoryview(b"\xff\x00")), (1, 1, bytearray(b"\x01"))]
    )


def test_concurrent_adds_keep_every_entry_whole():
    out = io.StringIO()
    log = AccuracyLog(out)

    def work(k: int) -> None:
        for i in range(500):
            log.add(k * 1000 + i, i, bytes([k, i % 256]) * 3)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    data = json.loads(out.getvalue())
    assert len(data) == 3000 == log.count
    assert sorted(e["seq_id"] for e in data) == sorted(
        k * 1000 + i for k in range(6) for i in range(500)
    )
    assert out.getvalue().count("\n") == 3000 + 2


def test_add_after_close_is_an_error_and_close_is_idempotent():
    out = io.StringIO()
    log = AccuracyLog(out)
    log.close()
    log.close()
    assert out.getvalue() == "[\n]\n"
    with pytest.raises(RuntimeError, match="seq_id 4"):
        log.add(4, 1, b"")


# --- byte equality with the official file ---------------------------------------------------

ACCURACY_RUNS = [
    official_logs.run_settings("SingleStream", mode="AccuracyOnly"),
    official_logs.run_settings("Server", True, accuracy_log_probability=1.0),
    official_logs.run_settings("Offline", True, accuracy_log_probability=1.0),
    official_logs.run_settings("Offline", mode="AccuracyOnly"),
]


@pytest.fixture(scope="module")
def accuracy_runs():
    pytest.importorskip("mlperf_loadgen")
    return official_logs.official_runs(*ACCURACY_RUNS)


@pytest.mark.parametrize("index", range(len(ACCURACY_RUNS)))
def test_same_entries_give_the_official_bytes(accuracy_runs, index):
    official = accuracy_runs[index].accuracy_text
    entries = json.loads(official)
    assert entries, "the official run logged nothing"
    ours = written(
        [
            (
                e["seq_id"],
                e["qsl_idx"],
                bytes.fromhex(e["data"]),
                bytes.fromhex(e["token_data"]) if "token_data" in e else None,
                e.get("token_count"),
            )
            for e in entries
        ]
    )
    assert ours == official
