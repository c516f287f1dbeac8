"""The verdict on one case and metric between a result set and its baseline, from per-run values.

The run (one worker process) is the unit of replication. Rules, in order:

1. Noisy runs (a finding of :func:`dlrmbench.results.noise.noise_warnings`: other processes' CPU,
   clock changes, throttling, other GPU processes, bimodal steps) are left out. When too few quiet runs
   remain on a side, the verdict is ``inconclusive (noisy: ...)``; it never fails a gate by itself.
2. With two quiet runs a side or more, Welch's t-test on the logarithms of the per-run values
   (:func:`~dlrmbench.results.stats.per_run_ratio_test`); from six a side, the Mann-Whitney U test on the
   same values must agree (the larger p counts), so that a few outlying runs cannot make a verdict. With fewer, only when the machine's run-to-run
   variation is known (measured by ``dlrmbench doctor`` and recorded in both result sets), counted
   :data:`KNOWN_VARIATION_MARGIN` times (it was measured on a reference case, not this one); otherwise
   ``cannot separate a change from run-to-run variation``.
3. ``regression`` / ``improvement``: p < alpha and the change is at least ``min_change``.
   ``no change``: the change is below ``min_change`` while significant, or not significant with the
   ratio's 95% confidence interval inside ±``min_change``. ``inconclusive (runs vary ...)``: not
   significant, and the interval is too wide to say there is no change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dlrmbench.results.stats import RatioTest, per_run_ratio_test

KNOWN_VARIATION_MARGIN = 2.0
MIN_RUNS = 2
RANK_TEST_RUNS = 6  # from 6 runs a side the rank test can reach p < 0.01 (2 / C(12, 6) = 0.0022)

REGRESSION, IMPROVEMENT, NO_CHANGE, INCONCLUSIVE, UNTESTED = (
    "regression", "improvement", "no change", "inconclusive", "untested")


@dataclass(frozen=True)
class Run:
    """One run's value of a metric and its noise findings (empty when the run was quiet)."""

    value: float
    name: str
    noise: tuple[str, ...] = ()


def runs_of(results: list[Any], name: str, batch_size: int | None = None, concurrency: int | None = None,
            label: str = "") -> list[Run]:
    """One :class:`Run` per ok result that records the metric as a finite number: its value, its name
    (``label run N``) and its noise findings. The one way compare, history and doctor turn results into runs."""
    from dlrmbench.results.noise import noise_warnings

    out = []
    for result in results:
        value = result.value(name, batch_size, concurrency)
        if result.status == "ok" and value is not None and math.isfinite(value):
            out.append(Run(value, f"{label} run {result.repeat + 1}".strip(), tuple(noise_warnings(result))))
    return out


@dataclass
class Verdict:
    kind: str                    # REGRESSION, IMPROVEMENT, NO_CHANGE, INCONCLUSIVE or UNTESTED
    text: str                    # what the user reads: the verdict and why
    test: RatioTest | None = None
    left_out: int = 0            # noisy runs left out of the test

    @property
    def flag(self) -> str | None:
        """``regression`` or ``improvement`` when the verdict is one, else None."""
        return self.kind if self.kind in (REGRESSION, IMPROVEMENT) else None


def rule(min_change: float, alpha: float) -> str:
    """The verdict rule in words, with the thresholds in force."""
    return (f"the run, not the step, is the unit of replication: one value per run, "
            f"Welch's t-test on log per-run values, quiet runs only; flagged when p < {alpha:g} (--alpha) and "
            f"the change is at least {min_change:.0%} (--min-change); 'no change' when the 95% CI of the "
            f"ratio lies within ±{min_change:.0%}; noisy runs are left out: a side left with fewer than "
            f"{MIN_RUNS} quiet runs is inconclusive because of noise, or untested when it had too few runs to begin "
            "with (one run a side: only with this machine's stored run-to-run variation, from 'dlrmbench doctor')")


def _noise_summary(runs: list[Run]) -> str:
    findings = list(dict.fromkeys(f for r in runs for f in r.noise))
    more = f" (+{len(findings) - 2} more)" if len(findings) > 2 else ""
    return "; ".join(findings[:2]) + more


def _with_rank_test(test: RatioTest, a: list[float], b: list[float], rank_from: int) -> RatioTest:
    """With ``rank_from`` runs a side or more, the Mann-Whitney U test on the per-run values must agree:
    the reported p is the larger of the two. The t-test assumes roughly normal log values; a few runs
    disturbed in ways the noise checks missed make heavy tails, which the rank test shrugs off."""
    if min(len(a), len(b)) < rank_from:
        return test
    from dataclasses import replace

    from dlrmbench.results.stats import mann_whitney_u

    p = mann_whitney_u(a, b).p_value
    return replace(test, p_value=max(test.p_value, p), method=test.method + " + rank") if p > test.p_value else test


def judge(candidate: list[Run], baseline: list[Run], higher_is_better: bool | None, min_change: float,
          alpha: float, known_cv: float | None = None, rank_from: int = RANK_TEST_RUNS) -> Verdict:
    """The verdict on ``candidate`` against ``baseline`` (see the module docstring). ``rank_from``: runs a
    side from which the rank test must agree (``history`` asks for it always: its segments are long)."""
    quiet_c = [r for r in candidate if not r.noise]
    quiet_b = [r for r in baseline if not r.noise]
    left_out = len(candidate) + len(baseline) - len(quiet_c) - len(quiet_b)
    known = known_cv * KNOWN_VARIATION_MARGIN if known_cv else None
    need = 1 if known else MIN_RUNS
    if len(quiet_c) < need or len(quiet_b) < need:
        noisy = [r for r in candidate + baseline if r.noise]
        if noisy and (len(candidate) >= need and len(baseline) >= need):
            return Verdict(INCONCLUSIVE, f"inconclusive (noisy: {_noise_summary(noisy)}; {len(quiet_c)} vs "
                                         f"{len(quiet_b)} quiet runs)", left_out=left_out)
        why = f"{len(candidate)} vs {len(baseline)} runs"
        if noisy:
            why += f", {len(noisy)} of them noisy ({_noise_summary(noisy)})"
        return Verdict(UNTESTED, f"cannot separate a change from run-to-run variation ({why}; run with "
                                 f"--repeat 3 or more, or store this machine's variation with 'dlrmbench doctor')",
                       left_out=left_out)
    test = per_run_ratio_test([r.value for r in quiet_c], [r.value for r in quiet_b],
                              known_cv=known if min(len(quiet_c), len(quiet_b)) < MIN_RUNS else None)
    if test is None:
        return Verdict(UNTESTED, "no ratio: a per-run value is zero, negative or not a number", left_out=left_out)
    test = _with_rank_test(test, [r.value for r in quiet_c], [r.value for r in quiet_b], rank_from)
    dropped = f"; {left_out} noisy run(s) left out" if left_out else ""
    runs = f"{test.runs[0]} vs {test.runs[1]} runs" + (", machine variation" if "known" in test.method else "")
    ci = f"95% CI {test.ci[0]:.3f}x to {test.ci[1]:.3f}x"
    change = test.ratio - 1.0
    if higher_is_better is None:
        return Verdict(UNTESTED, f"no better direction for this metric: not judged (p={test.p_value:.2g})",
                       test, left_out)
    if test.p_value < alpha and abs(change) >= min_change:
        better = change > 0 if higher_is_better else change < 0
        kind = IMPROVEMENT if better else REGRESSION
        return Verdict(kind, f"{kind} (p={test.p_value:.2g}, {runs}{dropped})", test, left_out)
    if test.p_value < alpha:
        return Verdict(NO_CHANGE, f"no change beyond ±{min_change:.0%} ({change:+.1%} is significant, "
                                  f"p={test.p_value:.2g}; {runs}{dropped})", test, left_out)
    if 1 - min_change <= test.ci[0] and test.ci[1] <= 1 + min_change:
        return Verdict(NO_CHANGE, f"no change ({ci} within ±{min_change:.0%}, p={test.p_value:.2g}; "
                                  f"{runs}{dropped})", test, left_out)
    return Verdict(INCONCLUSIVE, f"inconclusive (runs vary: {ci} reaches beyond ±{min_change:.0%}, "
                                 f"p={test.p_value:.2g}; {runs}{dropped}; more runs narrow it)", test, left_out)
