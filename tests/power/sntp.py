"""A loopback SNTP responder for the power tests: answers with this machine's own time.

The power client and server check their clocks against an NTP server (on port 123: power-dev's
ntplib client takes no port) before every phase. This one answers from ``clock`` plus
``skew_s``, which a test may change while it runs, so a clock that is off can be rehearsed
without touching the machine's clock. It never sets any clock.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!BBbb II 4s II II II II")


def ntp_time(t: float) -> tuple[int, int]:
    """Unix time ``t`` as NTP's (seconds, 2**-32 fractions)."""
    whole = int(t) + NTP_EPOCH_OFFSET
    return whole, int((t % 1) * 2**32) & 0xFFFFFFFF


def reply(request: bytes, received: float, sent: float) -> bytes:
    """A server (mode 4) answer to ``request``, stratum 1, reference 'LOCL'."""
    version = (request[0] >> 3) & 0x7 if request else 4
    orig = struct.unpack("!II", request[40:48]) if len(request) >= 48 else (0, 0)
    return PACKET.pack(
        (0 << 6) | (version << 3) | 4, 1, 0, -20, 0, 0, b"LOCL",
        *ntp_time(received), *orig, *ntp_time(received), *ntp_time(sent),
    )  # fmt: skip


class SntpResponder:
    """Bound on ``(host, port)`` in the constructor (so a refusal shows at once), answering in a
    thread between ``start`` and ``close``; a context manager."""

    def __init__(self, host: str, port: int = 123, clock: Callable[[], float] = time.time) -> None:
        self.skew_s = 0.0
        self._clock = clock
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp", daemon=True)
        self.address = host

    def __enter__(self) -> SntpResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join()
        self._sock.close()

    def _now(self) -> float:
        return self._clock() + self.skew_s

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                data, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            received = self._now()
            self._sock.sendto(reply(data, received, self._now()), peer)
