"""While a QDL is open the GIL switch interval is short, and it is put back after the last one."""

from __future__ import annotations

import sys

import pytest

from qdl import MockTransport, QueryDispatchLibrary
from qdl._gil import SWITCH_INTERVAL_S

from .conftest import loaded_qsl


def test_open_qdls_shorten_the_switch_interval_and_the_last_close_restores_it(recording):
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        first = QueryDispatchLibrary([MockTransport()], loaded_qsl(), recording)
        second = QueryDispatchLibrary([MockTransport()], loaded_qsl(), recording)
        first.connect()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        second.connect()
        first.close()
        assert sys.getswitchinterval() == pytest.approx(
            SWITCH_INTERVAL_S
        )  # the second is still open
        second.close()
        second.close()  # closing twice restores nothing twice
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(saved)


def test_a_qdl_that_never_connected_leaves_the_interval_alone(recording):
    saved = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        QueryDispatchLibrary([MockTransport()], loaded_qsl(), recording).close()
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(saved)
