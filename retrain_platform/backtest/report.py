"""How a backtest is shown: one table, a JSON file and a plot of the metric and the retrain days over time."""

from __future__ import annotations

import json
from pathlib import Path

from retrain_platform.backtest.result import BacktestResult


def format_table(result: BacktestResult) -> str:
    """The policy and every baseline side by side: mean metric over the common days, fits, promotions, time."""
    over = result.common_days()
    lines = [
        f"{result.model}: mean daily {result.metric} of the champion on each new day, before it trains on that day "
        f"({len(over)} days every policy had a champion)",
        f"{'policy':<22} {'mean ' + result.metric:>14} {'fits':>5} {'promotions':>10} {'wall s':>8}  "
        "spec policy's gain [95% interval over weekly blocks]",
    ]
    for entry in [result.policy, *result.baselines]:
        mean = entry.mean_metric(over)
        gain = None if entry is result.policy else result.gain_over(entry)
        lines.append(
            f"{entry.policy:<22} {'-' if mean is None else f'{mean:.4f}':>14} {entry.fits:>5} "
            f"{entry.promotions:>10} {entry.wall_seconds:>8.1f}  {'' if gain is None else gain.describe()}".rstrip()
        )
    evaluated = [o for o in result.outcomes if o.gain is not None]
    harmful = sum(o.harmful for o in evaluated)
    lines.append(
        f"challenger promotions worse than the champion they replaced over the next days by more than the gate's "
        f"margin ({result.margin}): {harmful} of {len(evaluated)}"
    )
    return "\n".join(lines)


def write_json(result: BacktestResult, path: Path) -> None:
    """Write the result as JSON (keys: policy, mean_metric, fits, promotions, days, baselines, ...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2, default=str))


def write_plot(result: BacktestResult, path: Path) -> None:
    """A PNG of each policy's daily metric (7-day rolling mean) with the spec policy's retrain days marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file is the output
    import matplotlib.pyplot as plt
    import pandas as pd

    figure, axis = plt.subplots(figsize=(12, 5))
    for entry in [result.policy, *result.baselines]:
        series = pd.Series(
            {pd.Timestamp(d.day): d.metric for d in entry.days if d.metric is not None}, dtype=float
        ).sort_index()
        if series.empty:
            continue
        smooth = series.rolling(7, min_periods=1).mean()
        width = 2.2 if entry is result.policy else 1.0
        axis.plot(smooth.index, smooth.values, label=f"{entry.policy} ({entry.fits} fits)", linewidth=width)
    for day in result.policy.days:
        if day.retrained:
            colour = "tab:green" if day.decision == "promoted" else "tab:red"
            axis.axvline(pd.Timestamp(day.day), color=colour, alpha=0.25, linewidth=1)
    axis.set_title(
        f"{result.model}: champion {result.metric} per day (7-day mean); "
        "spec policy retrains: green promoted, red rejected"
    )
    axis.set_ylabel(result.metric)
    axis.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
