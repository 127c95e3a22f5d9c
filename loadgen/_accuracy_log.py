"""mlperf_log_accuracy.json: the logged responses, one JSON object per line (spec §6.5).

The accuracy scripts load it with ``json.load``, and TEST01's ``--unixmode`` reads it line by
line, so the layout is fixed: ``[``, then each entry on its own line, then ``]``; data as
uppercase hex; entries in the order they are added (completion order).
"""

from __future__ import annotations

import threading
from typing import TextIO


class AccuracyLog:
    """Thread-safe writer of accuracy-log entries; ``close()`` writes the closing bracket."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._separator = "\n"  # before the first entry; ",\n" after it
        self._closed = False
        self.count = 0
        stream.write("[")

    def add(
        self,
        seq_id: int,
        qsl_idx: int,
        data: bytes,
        token_data: bytes | None = None,
        token_count: int | None = None,
    ) -> None:
        """Log one response.

        Token runs pass ``token_count`` (and, except Offline, ``token_data``: the first-token
        response, ``b""`` if there was none); other runs pass neither.
        """
        entry = (
            f'{{ "seq_id" : {int(seq_id)}, "qsl_idx" : {int(qsl_idx)}, '
            f'"data" : "{data.hex().upper()}"'
        )
        if token_data is not None:
            entry += f', "token_data" : "{token_data.hex().upper()}"'
        if token_count is not None:
            entry += f', "token_count" : {int(token_count)}'
        entry += " }"
        with self._lock:
            if self._closed:
                raise RuntimeError(
                    f"accuracy log already closed; cannot add seq_id {seq_id} (qsl_idx {qsl_idx})"
                )
            self._stream.write(self._separator + entry)
            self._separator = ",\n"
            self.count += 1

    def close(self) -> None:
        """Write the footer and flush (the stream itself belongs to the caller)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stream.write("\n]\n")
            self._stream.flush()
