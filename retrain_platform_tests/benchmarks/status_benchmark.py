"""``retrain status`` for 1, 10 and 50 models: the board against the per-model path it replaced.

Run: ``python -m retrain_platform_tests.benchmarks.status_benchmark [--days 30] [--repeats 3]``

The state is written straight into a real Dagster instance and MLflow store in a throwaway home (no training):
per model a registered version with its gate tags behind the ``champion`` alias (and an MLflow run holding the
holdout metric, which the old path read), and per day the events the ingest run writes — features, drift and
champion_performance materializations with their checks, partition by partition — plus a gate decision and a
failed run for some models. Both paths then read the same state in this process (warm imports and MLflow client),
and the whole command is timed once more as a user runs it, Python start and imports included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster import (
    AssetCheckEvaluation,
    AssetMaterialization,
    AssetObservation,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
)
from dagster._core.utils import make_new_run_id

from retrain_platform.keys import ModelKeys
from retrain_platform.registry import CHAMPION_ALIAS, HOLDOUT_SCORE_TAG, PROMOTED_AT_TAG, ModelRegistry
from retrain_platform.spec import load_spec
from retrain_platform.status import status_board
from retrain_platform_tests.benchmarks.timing import best_time

EXAMPLE = Path(__file__).resolve().parents[2] / "retrain_platform" / "examples" / "specs" / "churn.yaml"
SIZES = (1, 10, 50)
START = dt.date(2026, 1, 1)


def _old_model_status(spec, registry: ModelRegistry, instance: DagsterInstance) -> tuple:
    """The per-model path ``retrain status`` used before the board (kept here only to measure against): the
    alias, the training run's metrics, and the newest drift and decision events by write order."""
    from dagster import AssetRecordsFilter

    keys = ModelKeys(spec.name)

    def latest(key, observation=False):
        fetch = instance.fetch_observations if observation else instance.fetch_materializations
        records = fetch(AssetRecordsFilter(asset_key=key), limit=1).records
        return records[0] if records else None

    champion = registry.champion(spec.name)
    drift, decisions = latest(keys.drift_report), [latest(keys.production_model, o) for o in (False, True)]
    metrics = registry.run_metrics(champion) if champion else {}
    return champion, drift, decisions, metrics


def build_state(root: Path, models: int, days: int) -> tuple[list, ModelRegistry, DagsterInstance]:
    """``models`` copies of the churn spec with a champion and ``days`` ingested days each; returns the specs, the
    registry and the (open) instance, and writes the spec files under ``root / "specs"`` for the command."""
    base = load_spec(EXAMPLE, build=False)
    registry = ModelRegistry(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    (root / "dagster").mkdir(parents=True)
    (root / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = DagsterInstance.from_config(str(root / "dagster"))
    (root / "specs").mkdir()
    client, specs = registry.client, []
    experiment = client.create_experiment("status-benchmark")
    for i in range(models):
        spec = base.model_copy(update={"name": f"model_{i:02d}"})
        specs.append(spec)
        text = EXAMPLE.read_text().replace("name: churn", f"name: {spec.name}", 1)
        (root / "specs" / f"{spec.name}.yaml").write_text(text)
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, f"holdout_{spec.metric.name}", 0.8)
        client.create_registered_model(spec.name)
        tags = {HOLDOUT_SCORE_TAG: "0.8", PROMOTED_AT_TAG: dt.datetime.now(dt.UTC).isoformat()}
        version = client.create_model_version(spec.name, "file:///nowhere", run_id=run.info.run_id, tags=tags)
        client.set_registered_model_alias(spec.name, CHAMPION_ALIAS, version.version)
        keys = ModelKeys(spec.name)
        for d in range(days):
            day = (START + dt.timedelta(days=d)).isoformat()
            quarantined = d % 10 == 7
            events = [AssetMaterialization(keys.features, partition=day, metadata={"quarantined": quarantined})]
            events += [
                AssetCheckEvaluation(keys.features, keys.schema_check.name, not quarantined, partition=day),
                AssetCheckEvaluation(keys.features, keys.data_quality_check.name, True, partition=day),
                AssetCheckEvaluation(
                    keys.features,
                    keys.volume_check.name,
                    True,
                    partition=day,
                    metadata={"rows_since_training": 1000 * d, "valid_partitions": d + 1},
                ),
            ]
            if not quarantined:
                share = (d % 7) / 10
                events += [
                    AssetMaterialization(keys.drift_report, partition=day, metadata={"drifted_share": share}),
                    AssetCheckEvaluation(
                        keys.drift_report,
                        keys.drift_check.name,
                        share < 0.4,
                        partition=day,
                        metadata={"drifted_share": share},
                    ),
                    AssetMaterialization(keys.champion_performance, partition=day, metadata={"roc_auc": 0.8}),
                    AssetCheckEvaluation(keys.champion_performance, keys.performance_check.name, True, partition=day),
                    AssetCheckEvaluation(keys.champion_performance, keys.age_check.name, True, partition=day),
                ]
            for event in events:
                instance.report_runless_asset_event(event)
        decision = {"decision": "promoted", "candidate_version": version.version, "reason": "first model"}
        instance.report_runless_asset_event(AssetMaterialization(keys.candidate_model, metadata={"version": "1"}))
        instance.report_runless_asset_event(AssetMaterialization(keys.production_model, metadata=decision))
        if i % 3 == 0:
            instance.report_runless_asset_event(
                AssetObservation(keys.production_model, metadata={**decision, "decision": "rejected"})
            )
            instance.add_run(
                DagsterRun(job_name=keys.ingest_job, run_id=make_new_run_id(), status=DagsterRunStatus.FAILURE)
            )
    return specs, registry, instance


def command_seconds(root: Path) -> float:
    """Wall time of ``retrain status`` as a user runs it on ``root`` (Python start and imports included)."""
    env = {
        **os.environ,
        "RETRAIN_HOME": str(root),
        "DAGSTER_HOME": str(root / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        "RETRAIN_SPECS": str(root / "specs"),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "retrain_platform.cli", "status"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"retrain status failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def import_seconds() -> float:
    """Wall time of a Python that only imports what the command needs (its floor: Dagster, MLflow's SQL store)."""
    code = "import dagster, mlflow.store.tracking.sqlalchemy_store, retrain_platform.cli, retrain_platform.status"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print the timing table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="ingested days per model (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="status-benchmark-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        specs, registry, instance = build_state(root, max(SIZES), args.days)
        print(f"state: {max(SIZES)} models x {args.days} days, built in {time.perf_counter() - started:.1f} s")
        print(f"{'models':>6}  {'board s':>8}  {'old path s':>10}  {'old/board':>9}")
        for n in SIZES:
            board, rows = best_time(lambda n=n: status_board(specs[:n], registry, instance), args.repeats)
            old, _ = best_time(lambda n=n: [_old_model_status(s, registry, instance) for s in specs[:n]], args.repeats)
            assert len(rows) == n and all(r.champion_version == "1" for r in rows)
            print(f"{n:>6}  {board:>8.3f}  {old:>10.3f}  {old / board:>8.1f}x")
        instance.dispose()
        command, imports = command_seconds(root), import_seconds()
        print(f"`retrain status` for {max(SIZES)} models, Python start included: {command:.2f} s")
        print(f"  of which Python start and imports: {imports:.2f} s; the rest: {command - imports:.2f} s")


if __name__ == "__main__":
    main()
