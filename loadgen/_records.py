"""Plain data passed between the stages of a run: generation -> issuing -> results -> logs.

Keeping these as inert records lets each stage be tested on its own with exact inputs.
All times are integer nanoseconds; offsets are relative to the run's start timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._effective import EffectiveSettings


@dataclass
class GeneratedQueries:
    """The whole schedule of one series, made before issuing starts (GenerateQueries).

    Query ``q`` holds samples ``sample_index[query_offsets[q]:query_offsets[q + 1]]`` and is
    scheduled at ``scheduled_offset_ns[q]`` after the start.
    """

    sample_index: np.ndarray  # int64, QSL index of every generated sample, in order
    query_offsets: np.ndarray  # int64, length query_count + 1 (CSR offsets)
    scheduled_offset_ns: np.ndarray  # int64, per query
    samples_per_query: int  # the final spq ("generated_samples_per_query")
    duration_ns: int  # the final ts, i.e. the sum of all offsets ("generated_query_duration")
    first_sample_seq: int  # sequence id of sample 0 (ids continue across series)
    accuracy_log_vals: np.ndarray  # float64, the SequenceGen draw of every generated sample
    first_query_seq: int = 0  # sequence id of query 0 (ids continue across series)

    @property
    def query_count(self) -> int:
        return len(self.query_offsets) - 1

    @property
    def sample_count(self) -> int:
        return len(self.sample_index)


@dataclass
class PerformanceRecord:
    """What a performance run measured; the input of the results computation."""

    settings: EffectiveSettings
    queries_issued: int
    sample_latency_ns: np.ndarray  # int64, one per issued sample
    query_latency_ns: np.ndarray  # int64, one per issued query (used by MultiStream)
    final_query_scheduled_offset_ns: int  # scheduled time of the last issued query
    final_query_issue_offset_ns: int  # actual issue time of the last issued query
    final_query_all_done_offset_ns: int  # when every sample of the last issued query was done
    max_completion_offset_ns: int
    # Token latencies (use_token_latencies); empty arrays otherwise.
    first_token_latency_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    time_per_output_token_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    token_count: int = 0
    # Issue delay (actual issue - scheduled) per issued query: not an official metric.
    issue_delay_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
