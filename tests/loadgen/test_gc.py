"""The collector settings a series changes are given back as they were, on every exit."""

from __future__ import annotations

import gc

import pytest

from loadgen._gc import acyclic_burst, frozen_heap


def test_acyclic_burst_pauses_the_collector_and_restores_it():
    assert gc.isenabled()
    with pytest.raises(KeyError), acyclic_burst():
        assert not gc.isenabled()
        raise KeyError
    assert gc.isenabled()
    gc.disable()
    try:
        with acyclic_burst():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_frozen_heap_freezes_for_the_block_only():
    assert gc.get_freeze_count() == 0
    with pytest.raises(KeyError), frozen_heap():
        assert gc.get_freeze_count() > 0
        raise KeyError
    assert gc.get_freeze_count() == 0


def test_frozen_heap_leaves_a_process_that_froze_itself_alone():
    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == count
    finally:
        gc.unfreeze()
