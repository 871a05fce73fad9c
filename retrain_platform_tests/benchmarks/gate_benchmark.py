"""Benchmark: the promotion gate's old scipy + scikit-learn bootstrap against the count-based one, same process.

Run ``python -m retrain_platform_tests.benchmarks.gate_benchmark [--sizes 10000,100000,2000000]
[--resamples 1000] [--old-budget 10000000] [--repeats 3]``.

For every holdout size three decisions are measured, each a candidate against a champion on the same rows:
binary ``roc_auc`` (probabilities with four decimals, so some scores tie), ``rmse``, and three-class ``roc_auc``
(one-vs-rest, macro). Measured on each:

* **old**: the gate as it was: ``scipy.stats.bootstrap`` over row indices (percentile, its memory-bounded batch)
  calling ``Metric.score`` twice per resample (:func:`old_interval`, kept here as the baseline);
* **new**: :func:`retrain_platform.promotion.bootstrap.gain_interval`, as ``decide_challenger`` calls it;
* **draws**: drawing the resamples' row indices alone, which both paths do (the floor of any exact bootstrap that
  draws its resamples as scipy does).

A decision's time is both models' ``Metric.score`` on the full holdout plus the interval. The old path is slow at
large holdouts, so it is timed on ``--old-budget / rows`` resamples (at least 2, at most ``--resamples``) and its
interval time scaled linearly to ``--resamples`` (its cost per resample is constant); the table says how many
resamples it ran (by default all 1000 at 10,000 rows, 100 at 100,000 and 5 at 2,000,000). The new path always
runs every resample. Wall time is the best of ``--repeats`` untraced runs (the old path: one run). Peak memory is
measured in a separate run of each interval under ``tracemalloc`` (the peak of traced allocations during the call:
NumPy buffers and Python objects, not the inputs or the interpreter), on the resamples the old path was timed on,
and for the new path on every resample below 1,000,000 rows and 5 from there on, since the memory of a chunk of
resamples does not grow with their number.

"same CI" is the largest difference between the two paths' interval endpoints on the resamples the old path ran
(same seed, so the same resamples): it is rounding, not Monte-Carlo error.
"""

from __future__ import annotations

import argparse
import gc
from dataclasses import dataclass

import numpy as np
import sklearn
from scipy import stats

from retrain_platform.promotion.bootstrap import gain_interval
from retrain_platform.promotion.metrics import METRICS, Metric
from retrain_platform_tests.benchmarks.timing import best_time, parse_sizes, traced_peak

DEFAULT_SIZES = (10_000, 100_000, 2_000_000)
MIB = 2**20
CONFIDENCE = 0.95
SEED = 0
# Targets from the issue.
TARGET_SPEEDUP = 50.0  # at 100,000 rows
TARGET_PEAK_BYTES = 2**30  # at 2,000,000 rows


@dataclass(frozen=True)
class Decision:
    """One benchmarked comparison: a metric and a holdout scored by both models."""

    name: str
    metric: Metric
    y: np.ndarray
    candidate: np.ndarray
    champion: np.ndarray


@dataclass
class Row:
    """One line of the results table."""

    rows: int
    decision: str
    score_s: float
    old_s: float
    old_resamples: int
    old_peak: int
    new_s: float
    new_peak: int
    draws_s: float
    same_ci: float


def make_decisions(rows: int, seed: int = 0) -> list[Decision]:
    """Binary roc_auc, rmse and three-class roc_auc holdouts of ``rows`` rows; the candidate is slightly better."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    y = (signal + rng.normal(size=rows) > 0.5).astype(int)

    def proba(noise: float) -> np.ndarray:
        return np.round(1 / (1 + np.exp(-(signal + rng.normal(0, noise, rows)))), 4)

    target = 100 + 20 * signal
    labels = np.digitize(signal + rng.normal(0, 0.5, rows), [-0.5, 0.5])

    def three_class(sharpness: float) -> np.ndarray:
        raw = sharpness * np.eye(3)[labels] + rng.dirichlet([1, 1, 1], rows)
        return raw / raw.sum(axis=1, keepdims=True)

    return [
        Decision("roc_auc", METRICS["roc_auc"].configured([0, 1]), y, proba(0.9), proba(1.0)),
        Decision("rmse", METRICS["rmse"], target, target + rng.normal(0, 9, rows), target + rng.normal(0, 10, rows)),
        Decision(
            "roc_auc 3-class", METRICS["roc_auc"].configured([0, 1, 2]), labels, three_class(0.6), three_class(0.5)
        ),
    ]


def old_interval(decision: Decision, n_resamples: int) -> tuple[float, float]:
    """The gate's interval as it was computed before ``bootstrap.py``: scipy, scikit-learn on every resample."""
    metric, y, candidate, champion = decision.metric, decision.y, decision.candidate, decision.champion

    def paired_gain(rows: np.ndarray) -> float:
        return metric.gain(metric.score(y[rows], candidate[rows]), metric.score(y[rows], champion[rows]))

    with sklearn.config_context(skip_parameter_validation=True):
        result = stats.bootstrap(
            (np.arange(len(y)),),
            paired_gain,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=CONFIDENCE,
            method="percentile",
            batch=max(1, 4_000_000 // (3 * len(y))),  # the old gate's memory-bounded batch
            rng=np.random.default_rng(SEED),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def new_interval(decision: Decision, n_resamples: int, scores: tuple[float, float]) -> tuple[float, float]:
    """The gate's interval now, as ``decide_challenger`` asks for it (with the point estimates it has already)."""
    return gain_interval(
        decision.metric,
        decision.y,
        decision.candidate,
        decision.champion,
        n_resamples=n_resamples,
        confidence=CONFIDENCE,
        seed=SEED,
        scores=scores,
    )


def draw_only(rows: int, n_resamples: int) -> None:
    """Only the row indices of every resample, in the old batches (what both paths draw)."""
    rng = np.random.default_rng(SEED)
    batch = max(1, 4_000_000 // (3 * rows))
    for start in range(0, n_resamples, batch):
        rng.integers(0, rows, size=(min(batch, n_resamples - start), rows))


def point_estimates(decision: Decision) -> tuple[float, float]:
    """Both models' ``Metric.score`` on the full holdout, which every decision computes once (either path)."""
    return decision.metric.score(decision.y, decision.candidate), decision.metric.score(decision.y, decision.champion)


def measure(decision: Decision, n_resamples: int, old_budget: int, repeats: int) -> Row:
    """All measurements for one decision."""
    rows = len(decision.y)
    old_resamples = max(2, min(n_resamples, old_budget // rows))
    score_s, scores = best_time(lambda: point_estimates(decision), repeats)
    new_s, _ = best_time(lambda: new_interval(decision, n_resamples, scores), repeats)
    old_run_s, old_ci = best_time(lambda: old_interval(decision, old_resamples), 1)
    old_s = old_run_s * n_resamples / old_resamples
    same_ci = float(np.max(np.abs(np.subtract(old_ci, new_interval(decision, old_resamples, scores)))))
    draws_s, _ = best_time(lambda: draw_only(rows, n_resamples), repeats)
    traced_resamples = min(n_resamples, 5) if rows >= 1_000_000 else n_resamples
    new_peak = traced_peak(lambda: new_interval(decision, traced_resamples, scores))
    old_peak = traced_peak(lambda: old_interval(decision, old_resamples))
    return Row(rows, decision.name, score_s, old_s, old_resamples, old_peak, new_s, new_peak, draws_s, same_ci)


HEADER = (
    f"{'rows':>9} {'decision':>15} | {'old s':>8} {'(from)':>6} {'peak MiB':>8} | {'new s':>7} {'peak MiB':>8} | "
    f"{'speedup':>7} {'old dec/s':>9} {'new dec/s':>9} | {'draws s':>7} {'new/draws':>9} | same CI"
)


def format_row(row: Row) -> str:
    """One table line: interval times, peaks, the speedup of a whole decision and decisions per second."""
    old_decision, new_decision = row.score_s + row.old_s, row.score_s + row.new_s
    return (
        f"{row.rows:>9,} {row.decision:>15} | {row.old_s:>8.2f} {row.old_resamples:>6} {row.old_peak / MIB:>8.0f} | "
        f"{row.new_s:>7.3f} {row.new_peak / MIB:>8.0f} | {old_decision / new_decision:>6.1f}x "
        f"{1 / old_decision:>9.3f} {1 / new_decision:>9.3f} | {row.draws_s:>7.3f} {row.new_s / row.draws_s:>9.2f} | "
        f"{row.same_ci:.1e}"
    )


def target_lines(rows: list[Row]) -> list[str]:
    """Pass/fail against the issue's targets, for the sizes that were measured."""
    lines = []
    at_100k = next((r for r in rows if r.rows == 100_000 and r.decision == "roc_auc"), None)
    if at_100k is not None:
        speedup = (at_100k.score_s + at_100k.old_s) / (at_100k.score_s + at_100k.new_s)
        name = f">= {TARGET_SPEEDUP:.0f}x faster decisions at 100,000 rows (roc_auc)"
        lines.append(_target(name, f"{speedup:.1f}x", speedup >= TARGET_SPEEDUP))
    for row in (r for r in rows if r.rows == 2_000_000):
        name = f"< 1 GiB peak at 2,000,000 rows ({row.decision})"
        lines.append(_target(name, f"{row.new_peak / MIB:.0f} MiB", row.new_peak < TARGET_PEAK_BYTES))
    return ["", "targets:", *lines] if lines else []


def _target(name: str, measured: str, ok: bool) -> str:
    return f"  {name}: {measured} {'PASS' if ok else 'FAIL'}"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="comma-separated row counts")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per decision (the default)")
    parser.add_argument(
        "--old-budget",
        type=int,
        default=10_000_000,
        metavar="ROWS",
        help="time the old path on ROWS / rows resamples (min 2) and scale; 100 resamples at 100,000 rows",
    )
    parser.add_argument("--repeats", type=int, default=3, help="untraced runs per new-path timing (the best is kept)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.resamples < 1:
        parser.error("--repeats and --resamples must be at least 1")

    print(f"{args.resamples} resamples per decision; old s is scaled from the '(from)' resamples it ran", flush=True)
    print(HEADER, flush=True)
    results = []
    for rows in args.sizes:
        for decision in make_decisions(rows):
            gc.collect()
            results.append(measure(decision, args.resamples, args.old_budget, args.repeats))
            print(format_row(results[-1]), flush=True)
    for line in target_lines(results):
        print(line)


if __name__ == "__main__":
    main()
