"""The load a stand-in model may follow: sut-server's answered-samples counter, read over HTTP
on loopback from a page the test serves, turned into rates on a clock the test gives."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from lon._ptd_load import LoadMeter, answered


def test_the_counter_is_summed_over_labels() -> None:
    page = (
        "# HELP lon_node_samples_answered_total Final results sent\n"
        "lon_node_samples_answered_total 10.0\n"
        'lon_node_samples_answered_total{node="b"} 5.0\n'
        "lon_node_samples_answered_created 1.7e9\n"
    )
    assert answered(page) == 15.0


class Page(http.server.BaseHTTPRequestHandler):
    total = 0.0

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = f"lon_node_samples_answered_total {Page.total}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metrics_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_rates_come_from_the_points_around_an_interval(metrics_url: str) -> None:
    now = [100.0]
    meter = LoadMeter([metrics_url, metrics_url], lambda: now[0])
    assert meter.rate(100.0, 101.0) == 0.0  # no points yet
    for t, total in ((100.0, 0.0), (101.0, 50.0), (102.0, 250.0), (103.0, 250.0)):
        now[0], Page.total = t, total
        meter.poll()
    assert meter.rate(101.0, 102.0) == 400.0  # two nodes' pages, 200/s each
    assert meter.rate(100.5, 101.5) == 250.0  # the points around it: 100 and 102
    assert meter.rate(102.0, 103.0) == 0.0


def test_a_node_that_cannot_be_read_counts_nothing() -> None:
    now = [0.0]
    meter = LoadMeter(["http://127.0.0.1:1/metrics"], lambda: now[0])
    meter.poll()
    now[0] = 1.0
    meter.poll()
    assert meter.rate(0.0, 1.0) == 0.0
