"""``report.html``: one self-contained page that shows how a run went.

Everything is inline (matplotlib draws each plot to SVG text, no scripts or styles are
fetched), so the file opens offline and can be mailed or attached to a CI job. The page is
made from the run's logs alone (``result.json``'s document, the trace, ``lon_node_stats.json``
when present), so ``lon-report`` remakes it for any run, ours or the official LoadGen's.
"""

from __future__ import annotations

import html
import io
import os
from typing import Any

import numpy as np

from qdl import TOKEN_BIN_EDGES_NS

from . import _result_json as result_json
from ._node_stats import read_node_stats
from ._report_data import SampleTimes, read_sample_times

REPORT_FILE = "report.html"
NODE_PARTS = ("network", "queueing", "decompression", "compute", "sending")
MAX_POINTS = 2000  # a line or scatter plot draws at most this many points (the SVG stays small)
BULK_PERCENTILE = 99.9  # latency axes end here; the maximum is written beside the plot
BOUND_IN_VIEW = 2.0  # a bound up to this many times the axis's end is kept in view


def _figure(width: float = 7.5, height: float = 3.2) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: searchable, small
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def bulk_limit(values: np.ndarray, bound: float | None = None) -> float:
    """Where a latency axis ends: at the p99.9, so one slow sample does not squeeze the bulk
    into a sliver at the left; a bound a little beyond it stays in view."""
    top = float(np.percentile(values, BULK_PERCENTILE))
    if bound and top < bound <= BOUND_IN_VIEW * top:
        top = bound
    return top * 1.05 if top > 0 else 1.0


def _beyond(ax: Any, values: np.ndarray, limit: float, top: bool = True) -> None:
    """Write the maximum (and how many samples lie past the axis) in a right-hand corner."""
    beyond = int(np.count_nonzero(values > limit))
    text = f"max {float(values.max()):.4g} ms"
    if beyond:
        text += f"\n{beyond} beyond the axis"
    y, align = (0.95, "top") if top else (0.05, "bottom")
    ax.text(0.98, y, text, transform=ax.transAxes, ha="right", va=align, fontsize=8)


def latency_plot(times: SampleTimes, bound_ms: float | None, pct: float) -> str:
    """Histogram and CDF of the sample latencies up to the p99.9, the bound and the
    percentile marked, the maximum written beside."""
    fig = _figure()
    hist, cdf = fig.subplots(1, 2)
    ms = np.sort(times.latency_ns / 1e6)
    at = float(np.percentile(ms, pct))
    limit = bulk_limit(ms, bound_ms)
    shown = ms[ms <= limit]
    hist.hist(shown, bins=min(100, max(10, shown.size // 20)), color="#4c72b0")
    hist.set_xlabel("latency (ms)")
    hist.set_ylabel("samples")
    fractions = np.linspace(0, 1, min(ms.size, MAX_POINTS))
    cdf.plot(np.quantile(ms, fractions), fractions, color="#4c72b0")
    cdf.set_xlabel("latency (ms)")
    cdf.set_ylabel("fraction of samples")
    for ax in (hist, cdf):
        ax.axvline(at, color="#dd8452", linestyle="--", label=f"p{pct:g} {at:.2f} ms")
        if bound_ms and bound_ms <= limit:
            ax.axvline(bound_ms, color="#c44e52", label=f"bound {bound_ms:g} ms")
        ax.set_xlim(float(ms[0]) - 0.03 * (limit - float(ms[0])), limit)
        _beyond(ax, ms, limit, top=ax is hist)  # the CDF's top right holds its curve
    cdf.axhline(pct / 100, color="#999999", linewidth=0.5)
    hist.legend(fontsize=8, loc="center right")
    return _svg(fig)


def rate_plot(times: SampleTimes) -> str:
    """Samples issued and completed per second over the run."""
    fig = _figure()
    ax = fig.subplots()
    issued, done = times.issued_ns / 1e9, times.completed_ns / 1e9
    start, end = float(min(issued.min(), done.min())), float(max(issued.max(), done.max()))
    width = max((end - start) / 60, 0.01)
    edges = np.arange(start, end + width, width)
    for values, label in ((issued, "issued"), (done, "completed")):
        counts, _ = np.histogram(values, bins=edges)
        ax.step(edges[:-1], counts / width, where="post", label=label)
    ax.set_xlabel("time since the test started (s)")
    ax.set_ylabel("samples/s")
    ax.legend(fontsize=8)
    return _svg(fig)


def issue_delay_plot(times: SampleTimes) -> str:
    """How late each sample was issued against its schedule (Server)."""
    fig = _figure()
    ax = fig.subplots()
    step = max(1, len(times) // MAX_POINTS)  # every step-th sample, and the worst ones
    worst = np.argsort(times.issue_delay_ns)[-MAX_POINTS // 20 :]
    shown = np.union1d(np.arange(0, len(times), step), worst)
    ax.plot(times.scheduled_ns[shown] / 1e9, times.issue_delay_ns[shown] / 1e6, ".", markersize=2)
    ax.set_xlabel("scheduled time (s)")
    ax.set_ylabel("issue delay (ms)")
    return _svg(fig)


def node_plot(nodes: list[dict[str, Any]]) -> str | None:
    """Per node, the mean time of a sample in each part (stacked)."""
    rows = [n for n in nodes if (n.get("timing_ms") or {}).get("node")]
    if not rows:
        return None
    fig = _figure(height=1.2 + 0.5 * len(rows))
    ax = fig.subplots()
    labels = [str(n.get("name")) for n in rows]
    left = np.zeros(len(rows))
    for part in NODE_PARTS:
        means = np.array([((n["timing_ms"].get(part) or {}).get("mean") or 0.0) for n in rows])
        ax.barh(labels, means, left=left, label=part)
        left += means
    ax.set_xlabel("mean time per sample (ms)")
    ax.legend(fontsize=8, ncols=len(NODE_PARTS), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return _svg(fig)


def samples_per_message_plot(nodes: list[dict[str, Any]]) -> str | None:
    """Per node, how many samples each SampleBatch held, when the QDL recorded it (the
    ``samples_per_message`` histogram in lon_node_stats.json, by power-of-two buckets)."""
    found = [
        (str(n.get("name")), h["buckets"])
        for n in nodes
        if isinstance(h := n.get("samples_per_message"), dict)
        and isinstance(h.get("buckets"), dict)
        and h["buckets"]
    ]
    if not found:
        return None
    keys = sorted({k for _, b in found for k in b}, key=lambda k: int(k.split("-")[0]))
    fig = _figure()
    ax = fig.subplots()
    width = 0.8 / len(found)
    x = np.arange(len(keys))
    for i, (name, buckets) in enumerate(found):
        ax.bar(x + i * width, [buckets.get(k, 0) for k in keys], width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, keys)
    ax.set_xlabel("samples per message")
    ax.set_ylabel("messages")
    ax.legend(fontsize=8)
    return _svg(fig)


def token_samples(nodes: list[dict[str, Any]], name: str) -> np.ndarray | None:
    """Per-sample ``name`` ("ttft" or "tpot") latencies in ms over all nodes, from the
    histograms the QDL kept (each value at its 2%-wide bin's middle); None when none kept."""
    parts = []
    for node in nodes:
        histogram = (node.get("token_histograms") or {}).get(name)
        if not isinstance(histogram, dict):
            continue
        edges = np.asarray(histogram.get("edges_ms") or [], dtype=np.float64)
        counts = np.asarray(histogram.get("counts") or [], dtype=np.int64)
        if edges.size == counts.size + 1 and counts.size and (edges > 0).all():
            parts.append(np.repeat(np.sqrt(edges[:-1] * edges[1:]), np.clip(counts, 0, None)))
    values = np.concatenate(parts) if parts else np.empty(0)
    return values if values.size else None


def token_plot(
    block: dict[str, Any] | None, samples: dict[str, np.ndarray | None] | None = None
) -> str | None:
    """TTFT and TPOT of a token run, their bounds marked and the maxima written: the
    distribution of the per-sample values the QDL measured where it kept them (the axis to
    the p99.9), else the percentiles the LoadGen logged."""
    if not block:
        return None
    samples = samples or {}
    parts = [
        (n, block[k], samples.get(k[:4]))
        for n, k in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms"))
        if block[k]["percentiles"] or samples.get(k[:4]) is not None
    ]
    if not parts:
        return None
    fig = _figure()
    axes = fig.subplots(1, len(parts), squeeze=False)[0]
    for ax, (name, part, values) in zip(axes, parts):
        if values is not None:
            _token_histogram(ax, name, part, values)
        else:
            _token_percentiles(ax, name, part)
    return _svg(fig)


def _token_histogram(ax: Any, name: str, part: dict[str, Any], values: np.ndarray) -> None:
    bound = part.get("bound")
    limit = bulk_limit(values, bound)
    shown = values[values <= limit]
    ax.hist(shown, bins=_grid_bins(float(shown.min()), limit), color="#4c72b0")
    ax.set_xlabel(f"{name} (ms), as the QDL measured")
    ax.set_ylabel("samples")
    if bound is not None and bound <= limit:
        ax.axvline(bound, color="#c44e52", label=f"bound {bound:g} ms")
        ax.legend(fontsize=8, loc="center right")
    elif bound is not None:
        ax.set_title(f"bound {bound:g} ms (beyond the axis)", fontsize=8)
    _beyond(ax, values, limit)


def _grid_bins(low: float, high: float, most: int = 80) -> np.ndarray:
    """Histogram edges (ms) on the QDL's 2% grid (the values sit at its bins' middles, so
    each falls inside one bin: no comb), merged a few at a time to at most ``most`` bins."""
    grid = TOKEN_BIN_EDGES_NS / 1e6
    first = max(int(np.searchsorted(grid, low)) - 1, 0)
    last = min(int(np.searchsorted(grid, high)) + 1, grid.size - 1)
    step = max(1, -(-(last - first) // most))
    return grid[first : last + step : step]


def _nines(pct: np.ndarray) -> np.ndarray:
    """Percentile to "nines" (p90 = 1, p99 = 2, p99.9 = 3): the tail gets room on the axis."""
    return -np.log10(np.clip(1 - pct / 100, 1e-9, None))


def _token_percentiles(ax: Any, name: str, part: dict[str, Any]) -> None:
    points = sorted((float(k), v) for k, v in part["percentiles"].items())
    pct = np.array([p for p, _ in points])
    ms = np.array([v for _, v in points])
    ax.plot(_nines(pct), ms, "o-", color="#4c72b0", label=name)
    ax.set_xticks(_nines(pct), [f"p{p:g}" for p in pct], fontsize=7)
    ax.set_xlabel("percentile")
    ax.set_ylabel(f"{name} (ms)")
    bound = part.get("bound")
    top = float(ms.max())
    notes = [] if part.get("max") is None else [f"max {part['max']:.4g} ms"]
    if bound is not None:
        if bound <= BOUND_IN_VIEW * top:
            top = max(top, bound)
            ax.axhline(bound, color="#c44e52", label=f"bound {bound:g} ms")
        else:
            notes.append(f"bound {bound:g} ms (above the axis)")
    ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    for i, note in enumerate(notes):  # above the plot: the curve fills the inside
        ax.text(0.0, 1.03 + 0.08 * i, note, transform=ax.transAxes, fontsize=8)
    ax.legend(fontsize=8, loc="lower right")


_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 1em auto; color: #222; }
.verdict { font-size: 1.6em; font-weight: bold; padding: 0.3em 0.6em; display: inline-block; }
.VALID { background: #d4edda; } .INVALID { background: #f8d7da; } .none { background: #eee; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd;
text-align: left; } figure { margin: 1em 0; } svg { max-width: 100%; height: auto; }
"""


def build(directory: str) -> str:
    """The report page for the run in ``directory``; LogError when its detail log is missing."""
    doc = result_json.build(directory)
    stats, _ = read_node_stats(directory)
    nodes = [n for n in stats.get("nodes", []) if isinstance(n, dict)]
    times = read_sample_times(directory)
    settings = doc["settings"]
    bound_ns = settings.get("target_latency_ns") or 0
    pct = float(settings.get("target_latency_percentile") or 0.99) * 100
    bound_ms = bound_ns / 1e6 if doc["scenario"] == "Server" and bound_ns else None
    sections: list[tuple[str, str | None]] = []
    if times is not None:
        sections.append(("Latency", latency_plot(times, bound_ms, pct)))
        sections.append(("Issued and completed over time", rate_plot(times)))
        if doc["scenario"] == "Server":
            sections.append(
                ("LoadGen issue delay (actual - scheduled issue)", issue_delay_plot(times))
            )
    sections.append(("Where the time went, per node", node_plot(nodes)))
    sections.append(("Samples per message", samples_per_message_plot(nodes)))
    samples = {name: token_samples(nodes, name) for name in ("ttft", "tpot")}
    sections.append(("Token latencies: TTFT and TPOT", token_plot(doc["token_latencies"], samples)))
    return _page(doc, times, [(t, s) for t, s in sections if s])


def _page(doc: dict[str, Any], times: SampleTimes | None, plots: list[tuple[str, str]]) -> str:
    e = html.escape
    verdict = doc["validity"] or "no verdict"
    metric = doc["metric"]
    metric_text = f"{metric['name']} = {metric['value']:.6g} {metric['unit']}" if metric else "-"
    rows = [
        ("scenario / mode", f"{doc['scenario']} / {doc['mode']}"),
        ("metric", metric_text),
        ("why", "; ".join(doc["invalid_reasons"]) or "-"),
        ("queries", str(doc.get("queries"))),
        ("samples in the trace", str(len(times)) if times is not None else "no trace"),
        ("SUT", str(doc.get("sut_name"))),
        ("LoadGen", f"{doc['versions']['loadgen']} {doc['versions'].get('loadgen_version') or ''}"),
        ("lon", f"{doc['versions']['lon']} {doc['versions'].get('git_describe') or ''}"),
    ]
    percentiles = ", ".join(
        f"p{k}: {v:.3f} ms" for k, v in doc["latency_ms"]["percentiles"].items()
    )
    rows.append(("latency", percentiles or "-"))
    tokens = doc.get("token_latencies")
    if tokens:
        for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms")):
            rows.append((name, _token_row(tokens, key)))
        rate = tokens.get("tokens_per_second")
        if rate:
            rows.append(("tokens/s", f"{rate['value']:.6g} ({rate['name']})"))
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    figures = "".join(
        f'<section class="plot"><h2>{e(title)}</h2><figure>{svg}</figure></section>'
        for title, svg in plots
    )
    css_class = verdict if verdict in ("VALID", "INVALID") else "none"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>lon run report: {e(verdict)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>Run report</h1><div class="verdict {css_class}">{e(verdict)}</div>'
        f"<table>{table}</table>{figures}"
        "<script>document.body.dataset.plots = "
        "String(document.querySelectorAll('section.plot svg').length);</script>"
        "</body></html>\n"
    )


def _token_row(tokens: dict[str, Any], key: str) -> str:
    """A TTFT or TPOT row: its percentiles, and the target one against the bound."""
    part = tokens[key]
    text = ", ".join(f"p{k}: {v:.3f} ms" for k, v in part["percentiles"].items()) or "-"
    if part["bound"] is not None:
        verdict = "met" if part["bound_met"] else "NOT met"
        at = part["at_target_percentile"]
        at_text = "-" if at is None else f"{at:.3f} ms"
        bound = part["bound"]
        text += f"; p{tokens['target_percentile']} {at_text} against {bound:g} ms: {verdict}"
    return text


def write(directory: str) -> str:
    """Build and write ``report.html`` into ``directory``; returns its path."""
    page = build(directory)
    path = os.path.join(directory, REPORT_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
