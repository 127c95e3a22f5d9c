"""The issue-delay summary lon-run prints after a Server run, and when it warns."""

from __future__ import annotations

from lon import _issue_delay as issue_delay

MS = 1_000_000


def test_summary_in_ms_with_hand_computed_percentiles():
    delays = [i * 10_000 for i in range(101)]  # 0, 10 us, ..., 1 ms
    s = issue_delay.summarize(delays)
    assert s == {"queries": 101, "median": 0.5, "p99": 0.99, "max": 1.0}
    assert issue_delay.describe(s) == (
        "issue delay (actual - scheduled issue) over 101 queries: "
        "p50 0.500 ms, p99 0.990 ms, max 1.000 ms"
    )
    assert issue_delay.summarize([]) is None and issue_delay.summarize(None) is None


def test_warns_only_past_a_tenth_of_the_latency_bound():
    on_time = issue_delay.summarize([MS] * 100)  # p99 1 ms: exactly 10% of 10 ms
    assert issue_delay.behind_schedule(on_time, 10 * MS) is None
    late = issue_delay.summarize([3 * MS] * 100)
    text = issue_delay.behind_schedule(late, 10 * MS)
    assert text is not None
    assert "p99 issue delay 3.000 ms is 30% of the 10 ms latency bound" in text
    assert issue_delay.behind_schedule(late, 0) is None  # no bound, nothing to compare with
