"""The report's charts as matplotlib figures (no pyplot, no global state), rendered to SVG or PNG.

matplotlib is an optional dependency (``pip install dlrmbench[report]``); it is imported only
here, when a report is made.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from dlrmbench.errors import UserError
from dlrmbench.report.analysis import ScalingSeries, Speedup
from dlrmbench.results.compare import Comparison
from dlrmbench.results.schema import CaseResult

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
REFERENCE_COLOR = "#222222"


def _figure(width: float, height: float, left: float = 0.8) -> Any:
    """A figure with fixed margins (``left`` in inches: room for the y labels); a layout engine would draw
    every figure twice."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("the HTML report needs matplotlib: pip install 'dlrmbench[report]'") from None
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=left / width, right=0.97, top=1 - 0.45 / height,
                        bottom=0.65 / height, hspace=0.25)
    return fig


def fit_labels(fig: Any, axes: list[Any], pad_in: float = 0.2) -> None:
    """Widen the left margin until the widest y tick label fits, and the figure too when the plot would be left
    under 5 inches: labels are measured with the renderer (an estimate from the number of characters clipped
    long ones), without drawing the whole figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    widest = max((label.get_window_extent(renderer).width for ax in axes for label in ax.get_yticklabels()),
                 default=0.0) / fig.dpi
    margin = widest + pad_in
    if fig.get_figwidth() - margin < 5.0:
        fig.set_figwidth(margin + 5.0)
    fig.subplots_adjust(left=margin / fig.get_figwidth())


def literal(text: str) -> str:
    """``text`` drawn as written: a ``$`` would start matplotlib mathtext (and a bad formula raises)."""
    return str(text).replace("$", r"\$")


def to_svg(fig: Any) -> str:
    """The figure as an inline ``<svg>`` element (text kept as text, no date, stable ids)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dlrmbench"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def to_png(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _label_inches(rows: list[Any]) -> float:
    """Room for the longest y-axis label (about 0.075 inch per character at 10 pt)."""
    longest = max(len(f"{r.suite}/{r.case}") + (14 if r.batch_size is not None else 0) for r in rows)
    return min(5.0, 0.3 + 0.075 * longest)


def _short(label: str) -> str:
    return label.split("/", 1)[-1] if "/" in label else label


def throughput_chart(comparison: Comparison) -> Any | None:
    """Horizontal bars: each case's median throughput per result set (whiskers: min-max over repeats), the
    published reference as a black mark. Training and inference on separate axes (their scales differ by
    orders of magnitude), every bar labelled with its value."""
    groups = [("training", [r for r in comparison.rows if r.unit == "samples/s" and r.batch_size is None
                            and any(c.value for c in r.cells.values())]),
              ("inference", [r for r in comparison.rows if r.unit == "samples/s" and r.batch_size is not None
                             and any(c.value for c in r.cells.values())])]
    groups = [(title, rows) for title, rows in groups if rows]
    if not groups:
        return None
    sets = comparison.sets
    heights = [0.9 + 0.45 * len(rows) * max(1, len(sets)) ** 0.6 for _, rows in groups]
    fig = _figure(10, 0.9 + sum(heights), left=_label_inches([r for _, rows in groups for r in rows]))
    axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (title, rows) in zip(axes, groups):
        _throughput_axis(ax, rows, sets, comparison)
        against = " against the published reference" if any(r.reference for r in rows) else ""
        ax.set_title(f"{title.capitalize()} throughput{against}", fontsize=10)
    axes[-1].set_xlabel("samples/s (median over repeats; whiskers: min-max; labels: median)")
    fit_labels(fig, list(axes))
    return fig


def _throughput_axis(ax: Any, rows: list[Any], sets: list[str], comparison: Comparison) -> None:
    height = 0.8 / len(sets)
    for j, label in enumerate(sets):
        ys, xs, lo, hi = [], [], [], []
        for i, row in enumerate(rows):
            cell = row.cells.get(label)
            if cell is None or cell.value is None:
                continue
            ys.append(i + (j - (len(sets) - 1) / 2) * height)
            xs.append(cell.value)
            lo.append(cell.value - min(cell.values or [cell.value]))
            hi.append(max(cell.values or [cell.value]) - cell.value)
        off = next((r.cells[label] for r in rows if label in r.cells and not r.cells[label].comparable), None)
        bars = ax.barh(ys, xs, height=height * 0.9, color=COLORS[j % len(COLORS)],
                       label=literal(_short(label) + (f" ({off.comparability_note})" if off else "")),
                       xerr=[lo, hi], capsize=2)
        ax.bar_label(bars, labels=[f"{x:,.0f}" for x in xs], fontsize=7, padding=3)
    refs = [(i, r.reference) for i, r in enumerate(rows) if r.reference]
    if refs:
        ax.scatter([v for _, v in refs], [i for i, _ in refs], marker="D", color=REFERENCE_COLOR, zorder=3,
                   label="published reference")
    ax.set_yticks(range(len(rows)), [literal(f"{r.suite}/{r.case}" + (f" (batch {r.batch_size})"
                                                                       if r.batch_size is not None else ""))
                                     for r in rows])
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def baseline_delta_chart(comparison: Comparison) -> Any | None:
    """Each case's ratio to the baseline with its 95% CI over runs; red: significant regression, green:
    significant improvement, grey: not flagged. The band shows +-min_change."""
    if comparison.baseline is None:
        return None
    points = [(row, label, cell) for row in comparison.rows for label, cell in row.cells.items()
              if label != comparison.baseline and cell.vs_baseline is not None]
    if not points:
        return None
    fig = _figure(10, 1.6 + 0.35 * len(points), left=min(5.5, 0.4 + 0.068 * max(
        len(f"{r.suite}/{r.case} {r.metric_label} ({_short(lb)})") for r, lb, _ in points)))
    ax = fig.add_subplot()
    ax.axvspan(1 - comparison.min_change, 1 + comparison.min_change, color="#eeeeee", lw=0,
               label=f"within --min-change ({comparison.min_change:.0%})")
    ax.axvline(1.0, color="#888888", lw=1)
    for i, (row, label, cell) in enumerate(points):
        color = {"regression": "#b00020", "improvement": "#1b7f2a"}.get(cell.flag or "", "#777777")
        lo, hi = cell.ratio_ci if cell.ratio_ci else (cell.vs_baseline, cell.vs_baseline)
        ax.errorbar([cell.vs_baseline], [i], xerr=[[cell.vs_baseline - lo], [hi - cell.vs_baseline]], fmt="o",
                    color=color, capsize=3)
        verdict = cell.verdict or "not tested"
        ax.annotate(f"{cell.vs_baseline:.3f}x {verdict}", (hi, i), xytext=(5, 0), textcoords="offset points",
                    va="center", fontsize=7, color=color)
    ax.set_yticks(range(len(points)), [literal(f"{r.suite}/{r.case} {r.metric_label} ({_short(lb)})")
                                       for r, lb, _ in points], fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.25)
    ax.set_xlabel("ratio to the baseline (95% CI over runs); higher is better for throughput, lower for times")
    ax.set_title(literal(f"Against the baseline {_short(comparison.baseline)}"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fit_labels(fig, [ax])
    return fig


def step_time_chart(result: CaseResult) -> Any | None:
    """A case's step times: histogram (bimodality, tail) and time against step (warm-up, stalls).
    Training: the per-step times (warm-up steps marked); inference: the largest batch's end-to-end latencies."""
    times, what, warmup = list(result.step_times_s), "training step", int(result.config.get("benchmark_warmup_steps") or 0)
    if not times and result.inference:
        record = max(result.inference, key=lambda r: r.get("batch_size") or 0)
        times = list((record.get("end_to_end") or {}).get("step_times_s") or [])
        what, warmup = f"inference batch {record.get('batch_size')} (end to end)", 0
    times = [t * 1e3 for t in times if isinstance(t, (int, float)) and math.isfinite(t)]
    if len(times) < 2:
        return None
    import statistics

    fig = _figure(10, 3.2)
    hist, series = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    measured = times[warmup:] or times
    hist.hist(measured, bins=min(50, max(5, len(measured) // 4)), color=COLORS[0])
    p50, mean = statistics.median(measured), statistics.fmean(measured)
    hist.axvline(p50, color=COLORS[2], lw=1.5, label=f"p50 {p50:.3g} ms")
    hist.axvline(mean, color=COLORS[3], lw=1.5, ls="--", label=f"mean {mean:.3g} ms")
    hist.set_xlabel(f"{what} time [ms]")
    hist.set_ylabel("steps")
    hist.legend(fontsize=7)
    series.plot(range(len(times)), times, lw=0.8, color=COLORS[0])
    if warmup:
        series.axvspan(0, warmup, color="#dddddd", lw=0, label="warm-up (not measured)")
        series.legend(fontsize=7)
    series.set_xlabel("step")
    series.set_ylabel("time [ms]")
    series.grid(alpha=0.3)
    fig.suptitle(literal(f"{result.suite}/{result.case}" + (f" (repeat {result.repeat + 1})" if result.repeat else "")),
                 fontsize=10)
    return fig


def latency_chart(comparison: Comparison, sets: list[Any]) -> Any | None:
    """Inference latency p50 (solid) and p99 (dashed) against batch size, per case and result set."""
    lines = []
    for s in sets:
        for r in s.results:
            if r.status != "ok" or r.repeat or not r.inference:
                continue
            sizes = sorted({m.batch_size for m in r.metrics.values()
                            if m.name == "inference_latency_p50" and m.batch_size is not None})
            if not sizes:
                continue
            lines.append((f"{r.case} ({_short(s.label)})", sizes, [r.value("inference_latency_p50", b) for b in sizes],
                          [r.value("inference_latency_p99", b) for b in sizes]))
    if not lines:
        return None
    fig = _figure(10, 4.5, left=0.9)
    ax = fig.add_subplot()
    for i, (label, sizes, p50, p99) in enumerate(lines):
        color = COLORS[i % len(COLORS)]
        ax.plot(sizes, p50, "o-", color=color, label=literal(f"{label} p50"))
        ax.plot(sizes, p99, "s--", color=color, label=literal(f"{label} p99"))
        for x, y in zip(sizes, p99):
            if y is not None:
                ax.annotate(f"{y:.3g}", (x, y), xytext=(0, 4), textcoords="offset points", fontsize=7,
                            ha="center", color=color)
    ax.set_xscale("log", base=2)
    return _latency_axes(fig, ax, "inference batch size", "latency per batch [ms] (end to end)",
                         "Inference latency against batch size (p50 solid, p99 dashed and labelled)")


def _latency_axes(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str) -> Any:
    """A latency chart's finish: log latency axis, labels, title, grid on both scales, small legend."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig


def loadgen_search_chart(sets: list[Any]) -> Any | None:
    """Server QPS searches: LoadGen's latency percentiles (p50, p90, p99) against the completed samples/s of
    every run of a search, VALID runs filled and INVALID ones hollow, with the latency bound."""
    searches = []
    for s in sets:
        for r in s.results:
            runs = [x for x in r.inference if x.get("scenario") == "Server" and x.get("samples_per_s") is not None
                    and x.get("latency_p99_ms") is not None]
            if r.status == "ok" and not r.repeat and len(runs) > 1:
                searches.append((f"{r.case} ({_short(s.label)})", sorted(runs, key=lambda x: x["samples_per_s"])))
    if not searches:
        return None
    fig = _figure(10, 4.5, left=0.9)
    ax = fig.add_subplot()
    bounds = set()
    for i, (label, runs) in enumerate(searches):
        color = COLORS[i % len(COLORS)]
        qps = [x["samples_per_s"] for x in runs]
        for q, style in (("p50", ":"), ("p90", "--"), ("p99", "-")):
            ax.plot(qps, [x.get(f"latency_{q}_ms") for x in runs], style, color=color, label=literal(f"{label} {q}"))
        for x in runs:
            ax.plot([x["samples_per_s"]], [x["latency_p99_ms"]], "o", color=color,
                    fillstyle="full" if x.get("valid") else "none")
            bound = x.get("setting_server_target_latency_ns")
            if bound:
                bounds.add(bound / 1e6)
    for bound in sorted(bounds):
        ax.axhline(bound, color="black", linewidth=0.8, linestyle="-.")
        ax.annotate(f"bound {bound:g} ms", (ax.get_xlim()[0], bound), xytext=(2, 2), textcoords="offset points",
                    fontsize=7)
    return _latency_axes(fig, ax, "completed samples/s (LoadGen Server)", "latency per query [ms]",
                         "Server QPS search: latency percentiles against rate (filled: VALID run, hollow: INVALID)")


def speedup_chart(speedups: list[Speedup]) -> Any | None:
    """Mixed-precision speed-up over full precision: measured bars next to the reference's."""
    if not speedups:
        return None
    labels = list(dict.fromkeys(s.label for s in speedups))
    sets = list(dict.fromkeys(s.result_set for s in speedups))
    fig = _figure(10, 1.4 + 0.5 * len(labels) * max(1, len(sets)) ** 0.6, left=min(5.5, 0.4 + 0.068 * max(map(len, labels))))
    ax = fig.add_subplot()
    height = 0.8 / (len(sets) + 1)
    for j, set_label in enumerate(sets):
        points = [(labels.index(s.label), s.measured) for s in speedups if s.result_set == set_label]
        scaled = any(not s.comparable for s in speedups if s.result_set == set_label)
        ax.barh([i + j * height for i, _ in points], [v for _, v in points], height=height * 0.9,
                color=COLORS[j % len(COLORS)], label=literal(_short(set_label) + (" (scaled down: not comparable)" if scaled else "")))
    refs = {s.label: s.reference for s in speedups if s.reference}
    if refs:
        ax.barh([labels.index(k) + len(sets) * height for k in refs], list(refs.values()), height=height * 0.9,
                color="#bbbbbb", edgecolor=REFERENCE_COLOR, label="published reference")
    ax.axvline(1.0, color="#888888", lw=1)
    ax.set_yticks([i + (len(sets) * height) / 2 for i in range(len(labels))], [literal(lb) for lb in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up (throughput of mixed / full precision)")
    ax.set_title("Mixed precision over full precision")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def scaling_chart(series: list[ScalingSeries]) -> Any | None:
    """Throughput against GPU count, measured (solid) and published (dashed)."""
    if not series:
        return None
    fig = _figure(10, 4.5, left=0.9)
    ax = fig.add_subplot()
    labels = list(dict.fromkeys(s.label for s in series))
    sets = list(dict.fromkeys(s.result_set for s in series))
    markers = "os^vP*X"
    for s in series:
        color = COLORS[labels.index(s.label) % len(COLORS)]  # colour: the configuration; marker: the result set
        pts = [(g, v) for g, v in zip(s.gpus, s.measured) if v is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[sets.index(s.result_set) % len(markers)],
                ls="-", color=color, label=literal(f"{s.label} ({_short(s.result_set)})"))
        refs = [(g, v) for g, v in zip(s.gpus, s.reference) if v]
        if refs and s.result_set == series[0].result_set:
            ax.plot([p[0] for p in refs], [p[1] for p in refs], "D--", color=color, alpha=0.6,
                    label=literal(f"{s.label} (published)"))
    gpus = sorted({g for s in series for g in s.gpus})
    ax.set_xticks(gpus)
    ax.set_xlabel("GPUs")
    ax.set_ylabel("samples/s")
    ax.set_title("Scaling with GPU count")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def energy_chart(comparison: Comparison) -> Any | None:
    """Board energy per sample (NVML energy counter) per case and result set."""
    rows = [r for r in comparison.rows if any(c.energy_per_sample for c in r.cells.values())]
    if not rows:
        return None
    sets = comparison.sets
    fig = _figure(10, 1.3 + 0.45 * len(rows) * max(1, len(sets)) ** 0.6, left=_label_inches(rows))
    ax = fig.add_subplot()
    height = 0.8 / len(sets)
    for j, label in enumerate(sets):
        pts = [(i, r.cells[label].energy_per_sample * 1e6) for i, r in enumerate(rows)
               if label in r.cells and r.cells[label].energy_per_sample]
        ax.barh([i + (j - (len(sets) - 1) / 2) * height for i, _ in pts], [v for _, v in pts],
                height=height * 0.9, color=COLORS[j % len(COLORS)], label=literal(_short(label)))
    ax.set_yticks(range(len(rows)), [literal(f"{r.suite}/{r.case}") for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("board energy per sample [µJ] (NVML energy counter; not wall-socket energy)")
    ax.set_title("Energy per sample")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def timeline_chart(result: CaseResult) -> Any | None:
    """Power and utilisation per GPU, host and worker CPU, and memory over the case; the steady
    window used for energy per sample is shaded."""
    telemetry = result.telemetry or {}
    timeline = telemetry.get("timeline")
    if not timeline or len(timeline.get("t_s", [])) < 2:
        return None
    t = timeline["t_s"]
    gpus = timeline.get("gpus") or []
    host = timeline.get("host") or {}
    panels = (2 if gpus else 0) + (2 if host else 0)
    if panels == 0:
        return None
    fig = _figure(10, 1.1 + 1.6 * panels)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    k = 0
    if gpus:
        for i, g in enumerate(gpus):
            axes[k].plot(t, _series(g["power_w"]), color=COLORS[i % len(COLORS)], lw=1, label=f"GPU {g['index']}")
            axes[k + 1].plot(t, _series(g["gpu_util_pct"]), color=COLORS[i % len(COLORS)], lw=1)
        axes[k].set_ylabel("power [W]")
        axes[k + 1].set_ylabel("GPU util [%]")
        if len(gpus) <= 8:
            axes[k].legend(fontsize=7, ncol=4)
        k += 2
    if host:
        axes[k].plot(t, _series(host.get("cpu_pct", [])), color=COLORS[0], lw=1, label="machine (% of all cores)")
        axes[k].plot(t, _series(host.get("worker_cpu_pct", [])), color=COLORS[1], lw=1, label="worker (% of one core)")
        if any(v is not None for v in host.get("other_cpu_cores", [])):
            axes[k].plot(t, [v * 100 if v is not None else math.nan for v in host["other_cpu_cores"]], color=COLORS[3],
                         lw=1, label="other processes (% of one core)")
        axes[k].set_ylabel("CPU [%]")
        axes[k].legend(fontsize=7)
        gib = 2**30
        axes[k + 1].plot(t, [v / gib if v is not None else math.nan for v in host.get("worker_rss_bytes", [])],
                         color=COLORS[2], lw=1, label="worker RSS")
        for i, g in enumerate(gpus):
            axes[k + 1].plot(t, [v / gib if v is not None else math.nan for v in g["memory_used_bytes"]],
                             color=COLORS[(i + 3) % len(COLORS)], lw=1, ls="--", label=f"GPU {g['index']} memory")
        axes[k + 1].set_ylabel("memory [GiB]")
        axes[k + 1].legend(fontsize=7)
    progress = [m["t_s"] for m in telemetry.get("marks", []) if m.get("event") == "progress"]
    for ax in axes:
        if len(progress) >= 2:
            ax.axvspan(progress[0], progress[-1], color="#dddddd", alpha=0.5, lw=0)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds since the case started (shaded: measured window)")
    fig.suptitle(literal(f"{result.suite}/{result.case}" + (f" (repeat {result.repeat + 1})" if result.repeat else "")),
                 fontsize=10)
    return fig


def _series(values: list[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]
