"""Benchmark: the platform at 1, 10 and 50 models (issue 9's scale targets).

Run ``python -m retrain_platform_tests.benchmarks.scale_benchmark [--models 1,10,50] [--quick] [--daemon]
[--json PATH]`` (``make bench-scale``; about 5 minutes on two shared cores, ``--quick`` about 3, ``--daemon`` 5 more).

The N models come from the docs' recipe (as ``retrain_platform_tests/spec/test_defaults.py`` does it): a CSV
table of what differs per model (name, training window, performance floor) and a ``defaults.yaml`` of what is
shared, here the bundled ``churn`` example spec; each model lands :func:`~retrain_platform.demo.generator.churn_day`
data with a seed of its own. For each N, one fresh subprocess (so imports are paid, and peak RSS is that child's
``ru_maxrss``, read with ``os.wait4``) measures, on a fresh home, MLflow store and SQLite Dagster instance:

1. **definitions load**: the libraries ``retrain_platform.definitions`` imports, then importing that module with
   ``RETRAIN_SPECS`` naming the N-spec folder (``load_specs`` + ``build_definitions``, exactly what the code server
   does with ``workspace.yaml``), then resolving the repository (asset graph, jobs, sensors), which the code
   server does before it serves. ``build_definitions`` once more, warm, is reported apart.
2. **a replayed day per model**: one day lands for every model, then :class:`~retrain_platform.orchestration.
   replay.Replay` ticks every landing sensor, executes the ingest runs they request in-process, and runs the
   automation evaluator until it requests nothing (one partition each: nothing trains).
3. **one automation evaluation** of the whole graph (``evaluate_automation_conditions``) on that instance: the
   first tick (no cursor) and the next (the replay's cursor), then again after the backfill (5).
4. **peak RSS** after the definitions load and for the whole child.
5. **a 30-day backfill** of the ingest job for ``min(N, --backfill-models)`` models, by default one: the same
   backfill under 1, 10 and 50 models' definitions, so what the graph's size costs each run shows (the issue's
   10 models, ``--backfill-models 10``, would add about 7 minutes per N of 10 or more, past the default run's
   budget). One in-process run per partition, as Dagster's backfill daemon launches them (the ingest assets have
   no ``BackfillPolicy``), against the sum of the step durations the event log records (``get_run_step_stats``):
   the difference is orchestration overhead (run creation, planning, resource setup, event writes). Under the
   daemon each run would also pay a process start and imports (``LocalRunLauncher``), which this in-process
   figure leaves out; 6 shows that cost.
6. ``--daemon`` only (about 5 minutes, mostly waiting on sensor ticks: too long for the default run): the
   real ``dagster-daemon`` on a temporary instance with the shipped ``dagster.yaml`` and the **default**
   intervals (the landing sensor's 5 s, the automation sensor's 30 s), one model. After a warm-up (three days
   land, the first model is trained), a few days land
   one at a time, each at a random phase of the sensors' ticks; recorded are the latencies from the file's
   rename to the ingest run's end and to the gate's promotion (the ``production_model`` materialization: the
   champion alias moved), with their parts (sensor wait, queue and launch, run; the same for the retrain), and
   their p50. The daemon spec retrains on every landing (``new_rows`` below a day's rows) so that each landing
   can move the champion; a landing the gate refuses is reported and left out of that p50.

Not measured here: Kubernetes (no cluster on this machine) and Postgres-backed storage (the instance is SQLite,
as on a laptop). Times are printed, never asserted: the machine is shared, so read the ratios. A growth ratio is
shown against the linear one for the row's work (10/1 and 50/10 for totals over all models, 1 for per-model
and per-process figures, the backfill's model count for the backfill); "cost linear in models" passes when the
50/10 ratio is within 25% of linear.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# Targets from the issue.
TARGET_DEFINITIONS_SECONDS = 5.0  # at 50 models
TARGET_EVALUATION_SECONDS = 3.0  # at 50 models
TARGET_INGEST_P50_SECONDS = 10.0  # landing -> ingest finished, under the daemon, default interval
TARGET_CHAMPION_P50_SECONDS = 15.0  # landing -> champion moved
LINEAR_TOLERANCE = 1.25
TARGET_AT = 50

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "retrain_platform" / "examples" / "specs" / "churn.yaml"
FIRST_DAY = "2026-02-01"  # the replayed day; the backfill covers the days after it
DRIFT_DATE = "2100-01-01"  # never: the benchmark's data does not drift


# -- the specs: one table and one defaults.yaml (docs/model-spec.md's recipe) ------------------------------------


def write_specs(root: Path, count: int, **overrides) -> Path:
    """``count`` spec files over a ``defaults.yaml`` made of the churn example; returns the folder."""
    from retrain_platform.spec.loader import DEFAULTS_FILE

    defaults = yaml.safe_load(EXAMPLE_SPEC.read_text())
    for per_model in ("name", "description", "landing"):
        defaults.pop(per_model)
    for section, values in overrides.items():
        defaults[section] = {**defaults.get(section, {}), **values}
    folder = root / "specs"
    folder.mkdir(parents=True)
    (folder / DEFAULTS_FILE).write_text(yaml.safe_dump(defaults, sort_keys=False))
    table = root / "models.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "window_days", "floor"])
        writer.writerows([f"region_{i:02d}", 14 + i % 3 * 7, 0.6 + i % 5 / 100] for i in range(count))
    with table.open() as handle:
        for row in csv.DictReader(handle):
            spec = {
                "name": row["name"],
                "landing": {"path": f"landing/{row['name']}", "format": "parquet"},
                "training": {"window_days": int(row["window_days"])},
                "triggers": {"performance_floor": float(row["floor"])},
            }
            (folder / f"{row['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def quiet_environment(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }


def fresh_dagster_home(folder: Path, text: str = "telemetry:\n  enabled: false\n") -> Path:
    folder.mkdir(parents=True)
    (folder / "dagster.yaml").write_text(text)
    return folder


# -- the child: everything measured for one N --------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_seconds(instance, run_id: str) -> float:
    """The summed durations of a run's steps, as its event log records them."""
    return sum(
        (s.end_time or s.start_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run_id) or []
    )


def child(args: argparse.Namespace) -> dict:
    """Measure one N in this (fresh) process; the environment names the specs, home and instance."""
    out: dict = {"models": args.child}
    started = time.perf_counter()
    # What retrain_platform.definitions imports (the libraries, the pipeline), without building anything yet.
    import dagster  # noqa: F401

    import retrain_platform.ingest.sensor  # noqa: F401
    import retrain_platform.notify.sensor  # noqa: F401
    import retrain_platform.orchestration.run_limits  # noqa: F401
    import retrain_platform.pipeline  # noqa: F401
    import retrain_platform.resources  # noqa: F401
    import retrain_platform.spec  # noqa: F401

    imported = time.perf_counter()
    import retrain_platform.definitions as module  # load_specs(RETRAIN_SPECS) + build_definitions

    built = time.perf_counter()
    repository = module.defs.get_repository_def()  # the asset graph, jobs and sensors the code server serves
    resolved = time.perf_counter()
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    snapshot = serialize_value(RepositorySnap.from_def(repository))  # what the code server sends the daemon and UI
    serialized = time.perf_counter()
    out["load_imports_s"] = imported - started
    out["load_build_s"] = built - imported
    out["load_resolve_s"] = resolved - built
    out["load_total_s"] = resolved - started
    out["load_snapshot_s"] = serialized - resolved
    out["snapshot_mb"] = len(snapshot) / 1e6
    out["rss_after_load_mb"] = _rss_mb()

    import datetime as dt

    from dagster import DagsterInstance, evaluate_automation_conditions

    from retrain_platform.demo.generator import churn_day, land
    from retrain_platform.orchestration.replay import QUIET, DayRow, Replay
    from retrain_platform.pipeline import ingest_job_name
    from retrain_platform.registry import ModelRegistry
    from retrain_platform.settings import mlflow_tracking_uri
    from retrain_platform.spec import load_specs

    home = Path(os.environ["RETRAIN_HOME"])
    specs = load_specs([Path(os.environ["RETRAIN_SPECS"])])
    assert len(specs) == args.child, f"{len(specs)} specs loaded, {args.child} expected"
    ModelRegistry(tracking_uri=mlflow_tracking_uri(home)).client.search_experiments()  # MLflow's migrations
    instance = DagsterInstance.from_config(os.environ["DAGSTER_HOME"])

    # 1b. build_definitions again, warm (no imports left to pay): what a reload of the code location costs.
    from retrain_platform.definitions import build_definitions

    warm = time.perf_counter()
    build_definitions(specs, home).get_repository_def()
    out["load_warm_build_s"] = time.perf_counter() - warm

    replay = Replay(home, instance, specs)
    first = dt.date.fromisoformat(FIRST_DAY)
    drift_date = dt.date.fromisoformat(DRIFT_DATE)

    def land_day(day: dt.date, spec, seed: int) -> None:
        land(churn_day(day, drift_date, seed), replay.lake.landing_dir(spec), day, spec.landing.format)

    # 2. a replayed day per model: land, tick every landing sensor and run its requests, run automation.
    for seed, spec in enumerate(specs):
        land_day(first, spec, seed)
    rows = {spec.name: DayRow(day=first.isoformat()) for spec in specs}
    before = len(instance.get_run_ids())
    tick = time.perf_counter()
    replay.tick_sensors(rows)
    ingested = time.perf_counter()
    now = dt.datetime.combine(first + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    replay.run_automation(now, rows)
    done = time.perf_counter()
    out["replay_runs"] = len(instance.get_run_ids()) - before
    out["replay_ingest_s"] = ingested - tick
    out["replay_automation_s"] = done - ingested
    out["replay_total_s"] = done - tick
    out["replay_per_model_s"] = (done - tick) / len(specs)
    bad = [name for name, row in rows.items() if row.validation != "ok"]
    assert not bad, f"the replayed day did not validate for {bad}"

    # 3. one automation evaluation of the whole graph: the first tick, then the next one (with a cursor).
    evaluate = time.perf_counter()
    cold = evaluate_automation_conditions(defs=replay.defs, instance=instance, evaluation_time=now)
    out["eval_first_s"] = time.perf_counter() - evaluate
    evaluate = time.perf_counter()
    evaluate_automation_conditions(
        defs=replay.defs, instance=instance, cursor=replay.automation_cursor, evaluation_time=now
    )
    out["eval_next_s"] = time.perf_counter() - evaluate
    out["eval_requested"] = sum(
        cold.get_num_requested(key) for key in replay.defs.resolve_asset_graph().get_all_asset_keys()
    )

    # 5. a backfill of the ingest job for min(N, backfill_models) models, one run per partition.
    backfilled = specs[: args.backfill_models]
    days = [first + dt.timedelta(days=i + 1) for i in range(args.days)]
    for seed, spec in enumerate(backfilled):
        for day in days:
            land_day(day, spec, seed)
    run_ids = []
    wall = time.perf_counter()
    for spec in backfilled:
        job = replay.defs.resolve_job_def(ingest_job_name(spec.name))
        for day in days:
            run = job.execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                run_config=QUIET,
                tags={"retrain/benchmark": "backfill"},
                raise_on_error=False,
            )
            assert run.success, f"backfill run of {spec.name} {day} failed"
            run_ids.append(run.run_id)
    out["backfill_wall_s"] = time.perf_counter() - wall
    out["backfill_models"] = len(backfilled)
    out["backfill_runs"] = len(run_ids)
    out["backfill_steps_s"] = sum(step_seconds(instance, run_id) for run_id in run_ids)
    out["backfill_overhead_s"] = out["backfill_wall_s"] - out["backfill_steps_s"]
    out["backfill_per_run_s"] = out["backfill_wall_s"] / max(len(run_ids), 1)

    # 3b. the next automation evaluation, now that the backfilled models hold a month of partitions.
    last = days[-1] if days else first
    after = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    evaluate = time.perf_counter()
    evaluate_automation_conditions(
        defs=replay.defs, instance=instance, cursor=replay.automation_cursor, evaluation_time=after
    )
    out["eval_after_backfill_s"] = time.perf_counter() - evaluate
    out["rss_peak_mb"] = _rss_mb()
    instance.dispose()
    return out


def run_child(models: int, root: Path, days: int, backfill_models: int) -> dict:
    """One N in a fresh subprocess on a fresh home; its measurements, with ``ru_maxrss`` from ``wait4``."""
    folder = root / f"n{models}"
    specs = write_specs(folder, models)
    dagster_home = fresh_dagster_home(folder / "dagster")
    result_path = folder / "result.json"
    env = quiet_environment(
        {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            "RETRAIN_SPECS": str(specs),
            "RETRAIN_HOME": str(folder / "home"),
            "DAGSTER_HOME": str(dagster_home),
        }
    )
    for name in ("MLFLOW_TRACKING_URI", "RETRAIN_MLFLOW_ARTIFACTS", "RETRAIN_SENSOR_INTERVAL_SECONDS"):
        env.pop(name, None)
    command = [sys.executable, "-m", __spec__.name if __spec__ else "retrain_platform_tests.benchmarks.scale_benchmark"]
    command += ["--child", str(models), "--child-out", str(result_path), "--days", str(days)]
    command += ["--backfill-models", str(backfill_models)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not result_path.exists():
        raise SystemExit(
            f"the {models}-model child failed ({proc.returncode}):\n{stderr.decode(errors='replace')[-4000:]}"
        )
    result = json.loads(result_path.read_text())
    result["child_wall_s"] = time.perf_counter() - started
    result["child_maxrss_mb"] = usage.ru_maxrss / 1024
    return result


# -- the table ------------------------------------------------------------------------------------------------------

# (key, label, linear work as a function of N, target key or None)
ROWS = [
    ("load_imports_s", "definitions: imports, s", lambda n: 1, None),
    ("load_build_s", "definitions: specs + build, s", lambda n: n, None),
    ("load_resolve_s", "definitions: resolve repository, s", lambda n: n, None),
    ("load_total_s", "definitions load (total), s", lambda n: n, "definitions"),
    ("load_snapshot_s", "  + code server's repository snapshot, s", lambda n: n, None),
    ("snapshot_mb", "  snapshot size, MB", lambda n: n, None),
    ("load_warm_build_s", "build_definitions again (warm), s", lambda n: n, None),
    ("eval_first_s", "automation evaluation, first tick, s", lambda n: n, "evaluation"),
    ("eval_next_s", "automation evaluation, next tick, s", lambda n: n, "evaluation"),
    ("eval_after_backfill_s", "automation eval. after backfill, s", lambda n: n, "evaluation"),
    ("rss_after_load_mb", "peak RSS after definitions, MB", lambda n: 1, None),
    ("child_maxrss_mb", "peak RSS of the child, MB", lambda n: 1, None),
    ("replay_total_s", "replayed day (all models), s", lambda n: n, None),
    ("replay_per_model_s", "replayed day per model, s", lambda n: 1, "linear"),
    ("replay_automation_s", "  of which automation, s", lambda n: n, None),
    ("backfill_models", "backfill: models x days", None, None),
    ("backfill_wall_s", "backfill: wall, s", "backfill", None),
    ("backfill_steps_s", "backfill: sum of step times, s", "backfill", None),
    ("backfill_overhead_s", "backfill: orchestration overhead, s", "backfill", None),
    ("backfill_per_run_s", "backfill: wall per run, s", lambda n: 1, None),
    ("child_wall_s", "whole child process, s", None, None),
]


def _work(rule, result: dict, n: int) -> float | None:
    if rule is None:
        return None
    if rule == "backfill":
        return result["backfill_models"]
    return rule(n)


def _ratio_cell(results: dict[int, dict], key: str, rule, small: int, large: int) -> tuple[str, float | None]:
    if small not in results or large not in results:
        return "", None
    a, b = results[small].get(key), results[large].get(key)
    wa, wb = _work(rule, results[small], small), _work(rule, results[large], large)
    if not a or b is None or wa is None:
        return "", None
    measured, linear = b / a, wb / wa
    return f"x{measured:.1f} (lin x{linear:g})", measured / linear


def _target(kind: str | None, results: dict[int, dict], key: str, rule, sizes) -> str:
    if kind == "definitions" and TARGET_AT in results:
        value = results[TARGET_AT][key]
        return f"<= {TARGET_DEFINITIONS_SECONDS:g} s @50: {'PASS' if value <= TARGET_DEFINITIONS_SECONDS else 'MISS'}"
    if kind == "evaluation" and TARGET_AT in results:
        value = results[TARGET_AT][key]
        return f"<= {TARGET_EVALUATION_SECONDS:g} s @50: {'PASS' if value <= TARGET_EVALUATION_SECONDS else 'MISS'}"
    if kind == "linear" and len(sizes) >= 2:
        _, excess = _ratio_cell(results, key, rule, sizes[-2], sizes[-1])
        if excess is not None:
            return f"linear (+25%): {'PASS' if excess <= LINEAR_TOLERANCE else 'MISS'}"
    return ""


def format_table(results: dict[int, dict], daemon: dict | None = None) -> str:
    sizes = sorted(results)
    pairs = list(zip(sizes, sizes[1:], strict=False))
    header = f"{'measurement':<42}" + "".join(f"{f'{n} model' + ('s' if n > 1 else ''):>11}" for n in sizes)
    header += "".join(f"{f'{b}/{a}':>20}" for a, b in pairs) + "  target"
    lines = [header, "-" * len(header)]
    for key, label, rule, target in ROWS:
        cells = []
        for n in sizes:
            value = results[n].get(key)
            if key == "backfill_models":
                cells.append(f"{value} x {results[n]['backfill_runs'] // max(value, 1)}")
            else:
                cells.append("-" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}")
        line = f"{label:<42}" + "".join(f"{c:>11}" for c in cells)
        line += "".join(f"{_ratio_cell(results, key, rule, a, b)[0]:>20}" for a, b in pairs)
        lines.append(line + "  " + _target(target, results, key, rule, sizes))
    # "cost linear in models" over the scaling rows at the largest step
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        verdicts = []
        for key in ("load_build_s", "eval_next_s", "replay_total_s"):
            rule = next(r[2] for r in ROWS if r[0] == key)
            _, excess = _ratio_cell(results, key, rule, a, b)
            if excess is not None:
                verdicts.append(f"{key} {excess:.2f}x linear")
        lines.append(f"cost linear in models ({b}/{a}, measured / linear): " + ", ".join(verdicts))
    if daemon is not None:
        lines.append("")
        lines.append(format_daemon(daemon))
    return "\n".join(lines)


# -- 6. the real daemon, default sensor interval ------------------------------------------------------------------


def daemon_latency(root: Path, landings: int, timeout: float = 150.0) -> dict:
    """Landing -> ingest finished and landing -> champion moved under ``dagster-daemon`` (one model)."""
    import datetime as dt

    from dagster import AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

    from retrain_platform.demo.generator import churn_day, land
    from retrain_platform.ingest.sensor import (
        DEFAULT_INTERVAL_SECONDS,
        DEFAULT_LANDING_INTERVAL_SECONDS,
        LANDING_INTERVAL_ENV,
    )
    from retrain_platform.keys import ModelKeys
    from retrain_platform.pipeline import ingest_job_name
    from retrain_platform.spec import load_specs
    from retrain_platform.storage.lake import Lake
    from retrain_platform_tests.integration.test_daemon import WORKSPACE_YAML, DaemonProcess, wait_past_midnight

    warm_up_days = 3
    wait_past_midnight(60 + (landings + 2) * timeout)
    today = dt.datetime.now(dt.UTC).date()
    folder = root / "daemon"
    # Every landing retrains (a day holds ~1,000 rows), and two days are enough for a first model.
    specs_dir = write_specs(
        folder,
        1,
        partitions={"start_date": (today - dt.timedelta(days=30)).isoformat()},
        training={"min_partitions": 2, "min_rows": 500},
        triggers={"new_rows": 500},
    )
    [spec] = load_specs([specs_dir])
    dagster_home = fresh_dagster_home(folder / "dagster", (REPO / "dagster.yaml").read_text())  # shipped as is
    workspace = folder / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    home = folder / "home"
    env = quiet_environment(
        {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            "DAGSTER_HOME": str(dagster_home),
            "RETRAIN_HOME": str(home),
            "RETRAIN_SPECS": str(specs_dir),
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "RETRAIN_MLFLOW_ARTIFACTS": (folder / "artifacts").as_uri(),
        }
    )
    env.pop("RETRAIN_SENSOR_INTERVAL_SECONDS", None)  # the default intervals: 30 s, and 5 s for landings
    env.pop(LANDING_INTERVAL_ENV, None)
    env.pop("PYTHONWARNINGS")
    from retrain_platform.registry import ModelRegistry

    ModelRegistry(tracking_uri=env["MLFLOW_TRACKING_URI"]).client.search_experiments()  # migrations, once
    landing = Lake(root=str(home)).landing_dir(spec)
    keys = ModelKeys(spec.name)
    drift_date = dt.date.fromisoformat(DRIFT_DATE)
    intervals = {"interval_s": DEFAULT_INTERVAL_SECONDS, "landing_interval_s": DEFAULT_LANDING_INTERVAL_SECONDS}
    result: dict = {"landings": [], **intervals}
    with DagsterInstance.from_config(str(dagster_home)) as instance:

        def gate_events(after: int) -> list:
            """``production_model``'s decisions since ``after``: promotions (materializations), refusals
            (observations)."""
            found = AssetRecordsFilter(asset_key=keys.production_model, after_storage_id=after)
            records = instance.fetch_materializations(found, limit=100).records
            records += instance.fetch_observations(found, limit=100).records
            return sorted(records, key=lambda r: r.storage_id)

        def finished_run(after: float, job: str | None = None, partition: str | None = None):
            """The first successful run created after ``after`` (of ``job`` / for ``partition``; else one that
            trains ``candidate_model``)."""
            tags = {"dagster/partition": partition} if partition else None
            records = instance.get_run_records(RunsFilter(job_name=job, tags=tags, created_after=after_dt(after)))
            done = [
                r
                for r in records
                if r.dagster_run.status == DagsterRunStatus.SUCCESS
                and r.end_time
                and (job or keys.candidate_model in (r.dagster_run.asset_selection or ()))
            ]
            return min(done, key=lambda r: r.create_timestamp) if done else None

        def after_dt(timestamp: float) -> dt.datetime:
            return dt.datetime.fromtimestamp(timestamp - 1, dt.UTC)

        def wait(what: str, probe, deadline: float):
            while time.monotonic() < deadline:
                found = probe()
                if found:
                    return found
                if not daemon.alive():
                    raise RuntimeError(f"the daemon exited while waiting for {what}; log: {daemon.log_path}")
                time.sleep(0.25)
            return None

        started = time.monotonic()
        daemon = DaemonProcess(workspace, env, cwd=folder, log_path=folder / "daemon.log")
        try:
            history = [today - dt.timedelta(days=landings + warm_up_days - i) for i in range(warm_up_days)]
            for day in history:
                land(churn_day(day, drift_date, 0), landing, day, spec.landing.format)
            if not wait("the first champion", lambda: gate_events(0), time.monotonic() + 4 * timeout):
                raise RuntimeError(f"no first model within {4 * timeout:.0f} s; log: {folder / 'daemon.log'}")
            result["warm_up_s"] = time.monotonic() - started
            phases = random.Random(0)
            for i in range(landings):
                # At a random phase of the sensors' ticks, as files land in production (right after the previous
                # decision, every landing would wait the same part of an interval).
                time.sleep(phases.uniform(0, result["interval_s"]))
                day = today - dt.timedelta(days=landings - i)
                mark = instance.event_log_storage.get_maximum_record_id() or 0
                landed_at = time.time()
                land(churn_day(day, drift_date, 0), landing, day, spec.landing.format)
                deadline = time.monotonic() + timeout
                ingest = wait(
                    f"the ingest of {day}",
                    lambda d=day, t=landed_at: finished_run(t, ingest_job_name(spec.name), d.isoformat()),
                    deadline,
                )
                gate = wait(f"the gate after {day}", lambda m=mark: gate_events(m), deadline)
                # The gate's event comes just before its run ends.
                retrain = wait("the retrain run", lambda t=landed_at: finished_run(t), time.monotonic() + 30)
                row = {"day": day.isoformat(), "ingest_s": None, "champion_s": None, "decision": None}
                if ingest is not None:
                    row["ingest_s"] = ingest.end_time - landed_at
                    row["sensor_wait_s"] = ingest.create_timestamp.timestamp() - landed_at
                    row["ingest_launch_s"] = ingest.start_time - ingest.create_timestamp.timestamp()
                    row["ingest_run_s"] = ingest.end_time - ingest.start_time
                if gate:
                    promoted = gate[0].asset_materialization is not None
                    row["decision"] = "promoted" if promoted else "refused"
                    row["champion_s"] = gate[0].timestamp - landed_at if promoted else None
                if ingest is not None and retrain is not None:
                    row["automation_wait_s"] = retrain.create_timestamp.timestamp() - ingest.end_time
                    row["retrain_launch_s"] = retrain.start_time - retrain.create_timestamp.timestamp()
                    row["retrain_run_s"] = retrain.end_time - retrain.start_time
                result["landings"].append(row)
        finally:
            daemon.stop()
    result["total_s"] = time.monotonic() - started
    ingest = [r["ingest_s"] for r in result["landings"] if r["ingest_s"] is not None]
    champion = [r["champion_s"] for r in result["landings"] if r["champion_s"] is not None]
    result["ingest_p50_s"] = statistics.median(ingest) if ingest else None
    result["champion_p50_s"] = statistics.median(champion) if champion else None
    return result


def format_daemon(daemon: dict) -> str:
    def verdict(value, target):
        if value is None:
            return "n/a"
        return f"{value:.1f} s (target <= {target:g} s: {'PASS' if value <= target else 'MISS'})"

    parts = (
        "sensor_wait_s",
        "ingest_launch_s",
        "ingest_run_s",
        "automation_wait_s",
        "retrain_launch_s",
        "retrain_run_s",
    )

    def median(name: str) -> str:
        values = [r[name] for r in daemon["landings"] if r.get(name) is not None]
        return f"{statistics.median(values):.1f}" if values else "-"

    each = ", ".join(
        f"{r['day']} {r['decision'] or 'no decision'} "
        + "/".join("-" if r[k] is None else f"{r[k]:.1f}" for k in ("ingest_s", "champion_s"))
        for r in daemon["landings"]
    )
    return "\n".join(
        [
            f"under dagster-daemon, 1 model, default intervals (landing sensor "
            f"{daemon.get('landing_interval_s', daemon['interval_s'])} s, automation {daemon['interval_s']} s), "
            f"{len(daemon['landings'])} landings at random tick phases (warm-up {daemon['warm_up_s']:.0f} s, "
            f"total {daemon['total_s']:.0f} s):",
            f"  landing -> ingest finished p50: {verdict(daemon['ingest_p50_s'], TARGET_INGEST_P50_SECONDS)}",
            f"  landing -> champion moved p50:  {verdict(daemon['champion_p50_s'], TARGET_CHAMPION_P50_SECONDS)}",
            "  p50 parts, s: " + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {median(k)}" for k in parts),
            f"  each (ingest s / champion s): {each}",
        ]
    )


# -- command line ---------------------------------------------------------------------------------------------------


def parse_models(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--models takes model counts such as 1,10,50; got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"--models needs positive counts; got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=parse_models, default=(1, 10, 50), help="model counts (default 1,10,50)")
    parser.add_argument("--quick", action="store_true", help="a 5-day backfill instead of 30")
    parser.add_argument("--days", type=int, default=None, help="backfill days (default 30; --quick 5)")
    parser.add_argument(
        "--backfill-models", type=int, default=1, help="models backfilled, at most N (default 1; the issue's is 10)"
    )
    parser.add_argument("--daemon", action="store_true", help="also measure latencies under dagster-daemon (~3 min)")
    parser.add_argument("--daemon-landings", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every measurement as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.days is None:
        args.days = 5 if args.quick else 30
    if args.child is not None:
        args.child_out.write_text(json.dumps(child(args)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="retrain-scale-"))
    started = time.perf_counter()
    results: dict[int, dict] = {}
    try:
        for n in args.models:
            print(f"measuring {n} model(s) in a fresh process ...", flush=True)
            results[n] = run_child(n, root, args.days, args.backfill_models)
        daemon = None
        if args.daemon:
            print(f"measuring latencies under dagster-daemon ({args.daemon_landings} landings) ...", flush=True)
            daemon = daemon_latency(root, args.daemon_landings)
        print()
        print(format_table(results, daemon))
        total = time.perf_counter() - started
        print(f"\nbenchmark took {total:.0f} s")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {
                "models": {str(n): r for n, r in results.items()},
                "daemon": daemon,
                "days": args.days,
                "backfill_models": args.backfill_models,
                "seconds": total,
                "targets": {
                    "definitions_s_at_50": TARGET_DEFINITIONS_SECONDS,
                    "evaluation_s_at_50": TARGET_EVALUATION_SECONDS,
                    "ingest_p50_s": TARGET_INGEST_P50_SECONDS,
                    "champion_p50_s": TARGET_CHAMPION_P50_SECONDS,
                },
            }
            args.json.write_text(json.dumps(payload, indent=2))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
