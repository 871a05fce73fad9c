"""The spec's own policy, replayed through the real platform on a throwaway home.

Every day's file is landed in the model's landing folder; the landing sensor, the ingest job, Dagster's
automation evaluator, the monitoring assets, training and the gate then run exactly as in production (driven
by :class:`~retrain_platform.orchestration.replay.Replay`, as ``retrain demo`` is), at the simulated time. Nothing
is shortcut: what the backtest reports is what the platform would have done.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from dagster import DagsterInstance

from retrain_platform.backtest.data import DayFile
from retrain_platform.backtest.result import BacktestDay, PolicyResult
from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.ephemeral import ephemeral_instance
from retrain_platform.orchestration.replay import DayRow, Replay
from retrain_platform.registry import ModelRegistry
from retrain_platform.settings import mlflow_artifact_root
from retrain_platform.spec.model_spec import LandingSpec, ModelSpec
from retrain_platform.storage.lake import Lake

# A promotion row of production_model's metadata; "repaired" materializations only restate the alias.
_PROMOTED = "promoted"


def throwaway_resources(home: Path) -> dict:
    """A lake and an MLflow store of the backtest's own under ``home``, whatever the environment points at."""
    return {
        "lake": Lake(root=str(home)),
        "registry": ModelRegistry(
            tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}", artifact_root=mlflow_artifact_root(home)
        ),
    }


def backtest_spec(spec: ModelSpec, files: list[DayFile], home: Path) -> ModelSpec:
    """``spec`` landing in the backtest's own folder, with partitions starting on the first day of data.

    Evidently's HTML drift reports are not written: they change no decision (the drift check is computed
    without them) and cost about a second per day.
    """
    landing = LandingSpec(path=str(home / "landing" / spec.name), format=files[0].format)
    partitions = spec.partitions.model_copy(update={"start_date": files[0].day})
    drift = spec.drift.model_copy(update={"report": spec.drift.report.model_copy(update={"when": "never"})})
    return spec.model_copy(update={"landing": landing, "partitions": partitions, "drift": drift})


def _land(file: DayFile, folder: Path) -> None:
    # A dot-name first, then a rename: the landing sensor never sees half a file (as users are told to land).
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{file.path.name}.partial"
    shutil.copyfile(file.path, partial)
    partial.replace(folder / file.path.name)


def _first_scores(instance: DagsterInstance, spec: ModelSpec) -> dict[str, tuple[float, str]]:
    """Per partition, the champion's metric and version from its *first* ``champion_performance`` run there.

    The first one is the score before anything trained on that day (a later re-run, after a retrain, would
    score a champion that may have learned from it).
    """
    key = ModelKeys(spec.name).champion_performance
    scores: dict[str, tuple[float, str]] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=1000, cursor=cursor, ascending=True)
        for record in page.records:
            materialization = record.asset_materialization
            metadata = materialization.metadata
            if materialization.partition in scores or spec.metric.name not in metadata:
                continue
            scores[materialization.partition] = (
                float(metadata[spec.metric.name].value),
                str(metadata["champion_version"].value),
            )
        if not page.has_more:
            return scores
        cursor = page.cursor


def replay_policy(
    spec: ModelSpec,
    files: list[DayFile],
    home: Path,
    echo: Callable[[str], None] = print,
    *,
    instance: DagsterInstance | None = None,
    on_day: Callable[[DayRow, float], None] | None = None,
) -> tuple[PolicyResult, Replay]:
    """Replay ``files`` day by day through the platform under ``spec``; the policy's result and the replay.

    ``instance`` defaults to a throwaway in-memory one (:func:`ephemeral_instance`); ``on_day`` is called with
    each day's row and the seconds that day took (the benchmark's hook).
    """
    started = time.perf_counter()
    spec = backtest_spec(spec, files, home)
    instance = instance or ephemeral_instance(str(home / "dagster"))
    replay = Replay(home, instance, [spec], resources=throwaway_resources(home))
    folder = replay.lake.landing_dir(spec)
    rows: list[DayRow] = []
    for i, file in enumerate(files):
        day_started = time.perf_counter()
        rows.append(replay.day(file.day, lambda day, _rows, file=file: _land(file, folder))[spec.name])
        if on_day is not None:
            on_day(rows[-1], time.perf_counter() - day_started)
        if (i + 1) % 30 == 0 or i + 1 == len(files):
            echo(f"  {spec.name}: {i + 1}/{len(files)} days replayed in {time.perf_counter() - started:.0f} s")
    scores = _first_scores(instance, spec)
    days = []
    for row in rows:
        metric, version = scores.get(row.day, (None, None))
        days.append(
            BacktestDay(
                day=row.day,
                metric=metric if metric == metric else None,  # nan: undefined on that day
                champion_version=version if metric is not None else None,
                retrained=row.candidate_version is not None,
                reason=row.retrain_reason,
                decision=row.gate or ("quarantined" if row.validation == "quarantined" else None),
                candidate_version=row.candidate_version,
                gate_reason=row.gate_reason,
                gate_version=row.gate_version,
            )
        )
    fits = sum(d.retrained for d in days)
    promotions = sum(d.decision == _PROMOTED for d in days)
    return PolicyResult("spec policy", days, fits, promotions, time.perf_counter() - started), replay
