"""Keep CPython's cyclic garbage collector off the LoadGen's own objects while a series runs.

A series makes Python objects per sample (the QuerySample lists, the SUT's responses). The
collector runs when enough container objects were allocated, and its full collections walk
every tracked object in the process: with the heap of a loaded QSL, numpy and the SUT, one of
them stops the issue thread for tens of milliseconds, and building the one Offline query of
2 M samples spent most of its time in collections. Nothing here changes what is issued,
measured or logged; it only changes when the collector looks at what.

- ``acyclic_burst``: the collector is paused while the LoadGen makes objects that cannot form
  reference cycles (QuerySample objects and their lists): nothing collectable can be made in
  the meantime by this thread, and other threads' collections wait a moment at most.
- ``frozen_heap``: the objects alive when a series starts (the process's heap and the first
  chunk of QuerySample lists) move to the permanent generation (``gc.freeze``) until the series
  is over, so a collection during the series looks at what the series made, not at the whole
  heap. Cyclic garbage made during the series is still collected as usual. A process that froze
  objects itself is left alone.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def acyclic_burst() -> Iterator[None]:
    """The collector paused while this thread makes objects that hold no reference cycles."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now are left out of collections until the block ends."""
    if gc.get_freeze_count():  # the process uses freeze itself: unfreezing would undo it
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
