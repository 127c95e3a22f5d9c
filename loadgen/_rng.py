"""The C++ random-number primitives the official LoadGen uses, reproduced bit for bit.

Results are only comparable with the official LoadGen if the same seeds give the same loaded
sets, sample indices and Server schedule, so every draw here follows the Linux build of the
official wheel (libstdc++ >= 11):

- ``MT19937``: ``std::mt19937``; the 64-bit seed is truncated to its low 32 bits.
- ``uniform_int`` / ``uniform_ints``: ``std::uniform_int_distribution`` (Lemire's method
  with one 32-bit draw per try).
- ``shuffle``: ``std::shuffle`` (two positions per draw for n <= 65535, one otherwise).
- ``canonical`` / ``canonicals`` / ``canonical_from_words``:
  ``std::generate_canonical<double>`` (two draws), which is also what
  ``uniform_real_distribution<double>(0, 1)`` returns.
- ``exponential_offsets_ns``: ``std::exponential_distribution<double>`` converted to whole
  nanoseconds like ``std::chrono::duration_cast``.

Bulk draws are vectorised with numpy; only the floating-point ``log`` runs per element through
``math.log`` (the C library's ``log``, as the C++ code calls), since numpy's own ``log`` may
differ in the last bit.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence
from typing import Any

import numpy as np

_U32 = 0xFFFFFFFF
_TWO32 = 1 << 32
_TWO64_F = float(1 << 64)
_BELOW_ONE = math.nextafter(1.0, 0.0)
_PAIRED_SHUFFLE_MAX = 65535  # largest n with (2^32 - 1) // n >= n
_WINDOW = 4096  # draws examined per vectorised step when ranges vary
_DRAW_CHUNK = 1 << 16  # draws made per numpy step (bounds their temporary memory)
_EMPTY = np.zeros(0, dtype=np.uint64)


def _init_genrand(seed32: int) -> np.ndarray:
    """The 624-word state ``std::mt19937(seed)`` starts from (Matsumoto's init_genrand)."""
    key = [0] * 624
    x = seed32
    key[0] = x
    for i in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + i) & _U32
        key[i] = x
    return np.array(key, dtype=np.uint32)


class MT19937:
    """``std::mt19937`` seeded with ``seed & 0xFFFFFFFF``, drawn in bulk without waste.

    ``peek(n)`` looks at the next ``n`` outputs without consuming them and ``skip(n)`` consumes
    them, so a vectorised algorithm can look ahead and then consume exactly what the
    sequential C++ algorithm would have. Outputs are uint64 arrays holding 32-bit values.
    """

    __slots__ = ("_bits", "_buf", "_pos")

    def __init__(self, seed: int = 5489) -> None:
        self._bits = np.random.MT19937()
        self._bits.state = {
            "bit_generator": "MT19937",
            "state": {"key": _init_genrand(int(seed) & _U32), "pos": 624},
        }
        self._buf = np.zeros(0, dtype=np.uint64)
        self._pos = 0

    def peek(self, n: int) -> np.ndarray:
        """The next ``n`` outputs, not consumed."""
        avail = len(self._buf) - self._pos
        if avail < n:
            fresh = self._bits.random_raw(n - avail)
            self._buf = np.concatenate((self._buf[self._pos :], fresh))
            self._pos = 0
        return self._buf[self._pos : self._pos + n]

    def skip(self, n: int) -> None:
        """Consume the next ``n`` outputs, peeked or not."""
        avail = len(self._buf) - self._pos
        if n <= avail:
            self._pos += n
        else:
            self._bits.random_raw(n - avail, output=False)
            self._buf = self._buf[:0]
            self._pos = 0

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` outputs, consumed (the engine keeps no reference to them)."""
        if self._pos == len(self._buf):  # nothing peeked: the outputs go straight out
            self._buf, self._pos = _EMPTY, 0
            return self._bits.random_raw(n)
        out = self.peek(n)
        self._pos += n
        if self._pos == len(self._buf):
            self._buf, self._pos = _EMPTY, 0
        return out

    def next_u32(self) -> int:
        """One output as a Python int."""
        if self._pos >= len(self._buf):
            self.peek(256)
        v = int(self._buf[self._pos])
        self._pos += 1
        return v


def _check_range(r: int) -> None:
    if r <= 0 or r > _TWO32:
        raise ValueError(f"uniform_int range must hold 1..2^32 values, got {r}")


def uniform_int(eng: MT19937, a: int, b: int) -> int:
    """One ``uniform_int_distribution(a, b)`` draw; a range of one value still uses a draw."""
    r = b - a + 1
    _check_range(r)
    if r == _TWO32:
        return a + eng.next_u32()
    x = eng.next_u32() * r
    if (x & _U32) < r:
        thr = (_TWO32 - r) % r
        while (x & _U32) < thr:
            x = eng.next_u32() * r
    return a + (x >> 32)


def uniform_ints(eng: MT19937, a: int, b: int, n: int) -> np.ndarray:
    """``n`` consecutive ``uniform_int_distribution(a, b)`` draws, as int64.

    A rejected engine output never produces a value; the next output is tried for the same
    draw. So the results are the accepted outputs in order, and we keep drawing until there
    are ``n`` of them.
    """
    r = b - a + 1
    _check_range(r)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if r == _TWO32:
        return eng.take(n).astype(np.int64) + a
    thr = np.uint64((_TWO32 - r) % r)
    r64 = np.uint64(r)
    out = np.empty(n, dtype=np.int64)
    filled = 0
    while filled < n:  # in chunks, which bound the temporaries; never more draws than needed
        prod = eng.take(min(n - filled, _DRAW_CHUNK)) * r64
        if thr:
            prod = prod[(prod & np.uint64(_U32)) >= thr]
        out[filled : filled + len(prod)] = prod >> np.uint64(32)
        filled += len(prod)
    out += a
    return out


def _bounded_steps(eng: MT19937, ranges: np.ndarray) -> np.ndarray:
    """One ``uniform_int(0, ranges[k] - 1)`` draw per step k, in order (ranges < 2^32).

    Looks ahead a window at a time assuming no rejection; at the first rejected output the
    window is cut there and that step is finished sequentially.
    """
    m = len(ranges)
    out = np.empty(m, dtype=np.uint64)
    thr_all = (np.uint64(_TWO32) - ranges) % ranges
    low = np.uint64(_U32)
    s = 0
    while s < m:
        w = min(m - s, _WINDOW)
        r = ranges[s : s + w]
        prod = eng.peek(w) * r
        bad = (prod & low) < thr_all[s : s + w]
        k = int(np.argmax(bad)) if bad.any() else w
        out[s : s + k] = prod[:k] >> np.uint64(32)
        eng.skip(k)
        s += k
        if k < w:  # step s was rejected once: finish it one output at a time
            out[s] = uniform_int(eng, 0, int(r[k]) - 1)
            s += 1
    return out


def shuffle(eng: MT19937, seq: MutableSequence[Any]) -> None:
    """``std::shuffle(seq.begin(), seq.end(), eng)`` in place."""
    n = len(seq)
    if n <= 1:
        # libstdc++ returns before drawing for an empty or one-element range.
        return
    if n <= _PAIRED_SHUFFLE_MAX:
        _shuffle_paired(eng, seq, n)
        return
    js = _bounded_steps(eng, np.arange(2, n + 1, dtype=np.uint64)).tolist()
    for i, j in zip(range(1, n), js):
        seq[i], seq[j] = seq[j], seq[i]


def _shuffle_paired(eng: MT19937, seq: MutableSequence[Any], n: int) -> None:
    """libstdc++'s small-range branch: one draw decides two swaps.

    Position i is swapped with x // (R + 1) and position i + 1 with x % (R + 1), where
    R = i + 1 and x = uniform_int(0, R * (R + 1) - 1); an even n first swaps 1 with U(0, 1).
    """
    i = 1
    if n % 2 == 0:
        j = uniform_int(eng, 0, 1)
        seq[1], seq[j] = seq[j], seq[1]
        i = 2
    steps = (n - i) // 2
    raws = eng.peek(steps + 64).tolist()
    used = 0
    for _ in range(steps):
        b = i + 2  # R + 1
        r = (i + 1) * b
        if used >= len(raws):
            eng.skip(used)
            raws = eng.peek(steps + 64).tolist()
            used = 0
        x = raws[used] * r
        used += 1
        lo = x & _U32
        if lo < r:
            thr = (_TWO32 - r) % r
            while lo < thr:
                if used >= len(raws):
                    eng.skip(used)
                    raws = eng.peek(steps + 64).tolist()
                    used = 0
                x = raws[used] * r
                used += 1
                lo = x & _U32
        x >>= 32
        j, k = divmod(x, b)
        seq[i], seq[j] = seq[j], seq[i]
        seq[i + 1], seq[k] = seq[k], seq[i + 1]
        i += 2
    eng.skip(used)


def canonical_from_words(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``generate_canonical<double>`` from its two engine outputs (float64 in [0, 1)).

    ``(lo + hi * 2^32) / 2^64`` with the sum rounded to double; a result that rounds up to 1
    becomes the largest double below 1.
    """
    u = (lo.astype(np.float64) + hi.astype(np.float64) * 4294967296.0) / _TWO64_F
    u[u >= 1.0] = _BELOW_ONE
    return u


def canonical(eng: MT19937) -> float:
    """One ``generate_canonical<double>`` value: the low word is drawn first."""
    lo = eng.next_u32()
    hi = eng.next_u32()
    u = (float(lo) + float(hi) * 4294967296.0) / _TWO64_F
    return _BELOW_ONE if u >= 1.0 else u


def canonicals(eng: MT19937, n: int) -> np.ndarray:
    """``n`` consecutive ``generate_canonical<double>`` values (float64)."""
    raw = eng.take(2 * n)
    return canonical_from_words(raw[0::2], raw[1::2])


def exponential_offsets_ns(eng: MT19937, rate: float, n: int) -> np.ndarray:
    """``n`` draws of ``exponential_distribution<double>(rate)`` seconds, as int64 ns.

    Each value is ``-log(1 - u) / rate`` truncated to whole nanoseconds
    (``int(x * 1e9)``), as ``duration_cast<nanoseconds>`` of a double duration does.
    """
    if not rate > 0.0 or math.isinf(rate):
        raise ValueError(f"exponential rate must be a positive finite number, got {rate!r}")
    out = np.empty(n, dtype=np.int64)
    # In chunks: the Python floats math.log needs cost ~32 bytes a draw while they live.
    for lo in range(0, n, _DRAW_CHUNK):
        m = min(_DRAW_CHUNK, n - lo)
        one_minus = (1.0 - canonicals(eng, m)).tolist()
        logs = np.fromiter(map(math.log, one_minus), dtype=np.float64, count=m)
        seconds = np.negative(logs) / rate
        out[lo : lo + m] = (seconds * 1e9).astype(np.int64)
    return out


def seconds_to_ns(seconds: float) -> int:
    """``duration_cast<nanoseconds>(duration<double>(seconds))``: truncation toward zero."""
    return int(seconds * 1e9)
