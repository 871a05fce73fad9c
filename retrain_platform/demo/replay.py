"""``retrain demo``: replay days of both example models through the same sensors and automation conditions.

The days are driven by :class:`~retrain_platform.orchestration.replay.Replay`: the generator lands each day's
files, the landing sensors and Dagster's automation evaluator do the rest. Runs execute in-process against the
persistent instance under ``RETRAIN_HOME``, so ``make ui`` afterwards shows every run, materialization, check
result and the lineage.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster import DagsterInstance

from retrain_platform.demo.generator import churn_day, corrupt, land, sales_day
from retrain_platform.orchestration.replay import DayRow, Replay
from retrain_platform.spec import ModelSpec, load_specs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "specs"


@dataclass
class DemoResult:
    """The replay's timeline per model, plus where the state lives."""

    home: str
    days: int
    timeline: dict[str, list[DayRow]]

    def to_json(self) -> dict:
        """A JSON-ready dict of the whole timeline."""
        return {
            "home": self.home,
            "days": self.days,
            "timeline": {m: [asdict(r) for r in rows] for m, rows in self.timeline.items()},
        }


def run_demo(
    home: Path,
    instance: DagsterInstance,
    days: int = 60,
    seed: int = 0,
    drift_after: float = 0.55,
    bad_day: int = 20,
    echo=print,
) -> DemoResult:
    """Replay ``days`` days of both example models; churn drifts after ``drift_after`` of the run.

    On ``bad_day`` a corrupted churn file lands and is quarantined; the corrected file is re-landed the next
    morning and recovers the partition.
    """
    specs = load_specs([EXAMPLES / "churn.yaml", EXAMPLES / "sales.yaml"])
    replay = Replay(home, instance, specs)
    churn, sales = replay.specs["churn"], replay.specs["sales"]
    start = max(churn.partitions.start_date, sales.partitions.start_date)
    drift_date = start + dt.timedelta(days=int(days * drift_after))
    churn_dir, sales_dir = replay.lake.landing_dir(churn), replay.lake.landing_dir(sales)

    def land_files(day: dt.date, rows: dict[str, DayRow]) -> None:
        index = (day - start).days
        good = churn_day(day, drift_date, seed)
        if index == bad_day:
            land(corrupt(good, seed), churn_dir, day, churn.landing.format)
            rows["churn"].notes.append("corrupted file landed")
        else:
            land(good, churn_dir, day, churn.landing.format)
        if index == bad_day + 1:
            fixed = day - dt.timedelta(days=1)
            land(churn_day(fixed, drift_date, seed), churn_dir, fixed, churn.landing.format)
            rows["churn"].notes.append(f"corrected {fixed} re-landed")
        land(sales_day(day, seed), sales_dir, day, sales.landing.format)

    echo(f"replaying {days} days from {start} (churn pricing change on {drift_date}) into {home}")
    for i in range(days):
        day = start + dt.timedelta(days=i)
        rows = replay.day(day, land_files)
        for name, row in rows.items():
            if row.gate or row.validation == "quarantined" or row.notes:
                echo(f"  {row.day} {name}: {_summary(row)}")
    return DemoResult(str(home), days, replay.timeline)


def _summary(row: DayRow) -> str:
    parts = [f"validation {row.validation}"]
    if row.candidate_version:
        parts.append(f"retrain v{row.candidate_version} ({row.retrain_reason})")
    if row.gate:
        parts.append(f"gate: {row.gate} ({row.gate_reason})")
    parts += row.notes
    return "; ".join(parts)


def format_timeline(result: DemoResult, specs: dict[str, ModelSpec] | None = None) -> str:
    """A readable table per model: day, rows, validation, drift share, champion metric, retrain, gate."""
    lines = []
    for model, rows in result.timeline.items():
        lines.append(f"\n== {model} ==")
        lines.append(f"{'day':<10} {'rows':>5} {'valid':<11} {'drift':>5} {'champion':>14} {'retrain':<28} gate")
        for r in rows:
            champ = f"v{r.champion_version} {r.champion_metric:.3f}" if r.champion_metric is not None else "-"
            drift = f"{r.drift_share:.2f}" if r.drift_share is not None else "-"
            retrain = f"v{r.candidate_version} {(r.retrain_reason or '').split(':')[0]}" if r.candidate_version else ""
            gate = r.gate or ""
            if r.gate_reason:
                gate += f" ({r.gate_reason})"
            lines.append(
                f"{r.day:<10} {r.rows if r.rows is not None else '-':>5} {r.validation:<11} {drift:>5} "
                f"{champ:>14} {retrain:<28} {gate}"
            )
    return "\n".join(lines)


def write_json(result: DemoResult, path: Path) -> None:
    """Write the timeline as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2, default=str))
