"""Shared fixtures: a real Dagster instance, a real MLflow store and real files, per test.

The model spec here is deliberately *not* one of the demo's: tests of the platform must not depend on the demo
generator's columns, sizes or dates. ``Platform`` drives one model's graph in-process the way the daemon would
(sensor tick → run, automation evaluation → run), with everything stored in the test's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import (
    BetaWarning,
    DagsterInstance,
    PreviewWarning,
    build_sensor_context,
    evaluate_automation_conditions,
)

from retrain_platform.definitions import build_definitions
from retrain_platform.ingest.sensor import LANDING_SENSOR_NAME
from retrain_platform.keys import ModelKeys
from retrain_platform.pipeline import ingest_job_name, retrain_job_name
from retrain_platform.registry import ModelRegistry
from retrain_platform.spec import ModelSpec, parse_spec
from retrain_platform.storage.lake import Lake

os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# The suite never touches the user's home: `make test` exports RETRAIN_HOME/DAGSTER_HOME for the demo, and
# anything that fell back to them (a dagster CLI call writing its logs, say) would leave state in the repo.
_SUITE_HOME = Path(tempfile.mkdtemp(prefix="retrain-tests-"))
os.environ["RETRAIN_HOME"] = str(_SUITE_HOME / "home")
os.environ["DAGSTER_HOME"] = str(_SUITE_HOME / "dagster")
(_SUITE_HOME / "dagster").mkdir()
(_SUITE_HOME / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

START = dt.date(2026, 3, 1)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
_names = itertools.count()


# Probation off: most tests observe a refusal as final; the probation tests set it themselves.
TEST_GATE = {"confidence": 0.9, "bootstrap_samples": 200, "min_score": 0.55, "probation_days": None}
# The test gate where a tie keeps the champion: retraining on the same data is then a rejection to observe.
STRICT_GATE = {**TEST_GATE, "mode": "better"}


def spec_dict(name: str, **overrides) -> dict:
    """A small credit-risk classification spec as a dict; ``overrides`` replace top-level sections."""
    data = {
        "name": name,
        "task": "classification",
        "target": {"name": "defaulted", "type": "int", "categories": [0, 1]},
        "features": {
            "income": {"type": "float", "min": 0, "max": 1_000_000},
            "debt_ratio": {"type": "float", "min": 0, "max": 10, "max_null_fraction": 0.1},
            "age": {"type": "int", "min": 18, "max": 120},
            "channel": {"type": "category", "categories": ["web", "branch", "phone"]},
            "has_mortgage": {"type": "bool"},
        },
        "landing": {"path": f"landing/{name}", "format": "csv"},
        "partitions": {"start_date": START.isoformat()},
        "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}},
        "training": {"window_days": 10, "min_partitions": 3, "min_rows": 200, "holdout_fraction": 0.3},
        "metric": {"name": "roc_auc"},
        "gate": dict(TEST_GATE),
        "drift": {"share_threshold": 0.4, "report": {"when": "never"}},
        "triggers": {"drift": True, "performance_floor": 0.6},
    }
    data.update(overrides)
    return data


def make_spec(name: str | None = None, **overrides) -> ModelSpec:
    """A validated test spec with a unique name (each test registers its own MLflow model)."""
    name = name or f"credit_{os.getpid()}_{next(_names)}"
    return parse_spec(spec_dict(name, **overrides), Path(f"<test spec {name}>"))


def credit_frame(day: dt.date, rows: int = 300, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Rows for the test spec; ``shift`` moves income and debt ratio and changes how default depends on them."""
    rng = np.random.default_rng([seed, day.toordinal()])
    income = rng.lognormal(10.5 + shift, 0.4, rows).clip(0, 1_000_000)
    debt = rng.gamma(2.0, 0.3 + 0.4 * shift, rows)
    age = rng.integers(18, 80, rows)
    logit = -1.0 + 1.5 * debt - 0.5 * (np.log(income) - 10.5) - 0.01 * (age - 40) + (2.0 * shift * (debt - 1))
    return pd.DataFrame(
        {
            "income": income.round(2),
            # clipped to the spec's bounds: a shifted gamma tail would otherwise quarantine ~1 day in 100
            "debt_ratio": debt.clip(0, 10).round(3),
            "age": age,
            "channel": rng.choice(["web", "branch", "phone"], rows),
            "has_mortgage": rng.random(rows) < 0.4,
            "defaulted": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One MLflow SQLite store per test worker: creating one runs migrations, which takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@dataclass
class Platform:
    """One model's graph on a real instance, MLflow store and lake, driven like the daemon drives it."""

    spec: ModelSpec
    home: Path
    instance: DagsterInstance
    registry: ModelRegistry
    sensor_cursor: str | None = None
    automation_cursor: object = None
    runs: list = field(default_factory=list)
    lake_root: str | None = None
    """The lake's root when not the home folder (an ``s3://`` URL, say)."""

    def __post_init__(self):
        self.lake = Lake(root=self.lake_root or str(self.home), scratch=str(self.home / "cache"))
        self.keys = ModelKeys(self.spec.name)
        self.defs = build_definitions([self.spec], resources={"lake": self.lake, "registry": self.registry})

    def land(self, day: dt.date, frame: pd.DataFrame | None = None, *, raw: bytes | None = None) -> Path:
        """Write a day's file into the landing folder (a frame in the spec's format, or raw bytes)."""
        folder = self.lake.landing_dir(self.spec)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{day.isoformat()}{self.spec.landing.suffix}"
        if raw is None:
            raw = frame.to_csv(index=False).encode() if self.spec.landing.format == "csv" else frame.to_parquet()
        path.write_bytes(raw)
        return path

    def tick(self):
        """Evaluate the landing sensor once (its result is returned, nothing is executed)."""
        sensor = self.defs.resolve_sensor_def(LANDING_SENSOR_NAME)
        context = build_sensor_context(instance=self.instance, cursor=self.sensor_cursor, resources={"lake": self.lake})
        result = sensor(context)
        self.sensor_cursor = getattr(result, "cursor", None) or context.cursor
        for event in getattr(result, "asset_events", None) or []:
            self.instance.report_runless_asset_event(event)  # as the daemon stores a tick's asset events
        return result

    def ingest(self, day: dt.date | str, **kwargs):
        """Run the ingest job (raw_batch → features → drift_report, champion_performance) for one day."""
        key = day if isinstance(day, str) else day.isoformat()
        run = self.defs.resolve_job_def(ingest_job_name(self.spec.name)).execute_in_process(
            instance=self.instance, partition_key=key, raise_on_error=False, run_config=QUIET, **kwargs
        )
        self.runs.append(run)
        return run

    def retrain(self, **kwargs):
        """Run candidate_model and production_model."""
        run = self.defs.resolve_job_def(retrain_job_name(self.spec.name)).execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=QUIET, **kwargs
        )
        self.runs.append(run)
        return run

    def evaluate(self, day: dt.date):
        """Evaluate the automation conditions the morning after ``day`` (the replay's convention)."""
        now = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
        result = evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.automation_cursor, evaluation_time=now
        )
        self.automation_cursor = result.cursor
        return result

    def land_and_ingest(self, days: int, start: dt.date = START, shift: float = 0.0) -> list:
        """Land and ingest ``days`` consecutive good days; returns the runs."""
        out = []
        for i in range(days):
            day = start + dt.timedelta(days=i)
            self.land(day, credit_frame(day, shift=shift))
            out.append(self.ingest(day))
        return out


@pytest.fixture
def instance(tmp_path):
    """A real, persistent (SQLite) Dagster instance in the test's folder."""
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        yield inst


@pytest.fixture
def platform_factory(tmp_path, instance, mlflow_uri):
    """Build a :class:`Platform` for a spec (default: a fresh test spec)."""

    def build(spec: ModelSpec | None = None, *, lake_root: str | None = None) -> Platform:
        registry = ModelRegistry(tracking_uri=mlflow_uri, artifact_root=(tmp_path / "artifacts").as_uri())
        return Platform(spec or make_spec(), tmp_path / "home", instance, registry, lake_root=lake_root)

    return build


@pytest.fixture
def platform(platform_factory) -> Platform:
    """A :class:`Platform` for a fresh credit-risk test spec."""
    return platform_factory()


# -- the fault suite's tally -----------------------------------------------------------------------------------------
# Every test marked ``faults`` injects one fault and passes only if the platform recovered by itself (most also
# record a readable ``fault`` name). User properties travel with xdist's reports, so the controller can count them.
_FAULTS: dict[str, bool] = {}


def pytest_itemcollected(item):
    """Tag every ``faults`` test so the tally below counts it, whether or not it names its fault."""
    if item.get_closest_marker("faults") is not None:
        item.user_properties.append(("fault", item.nodeid))


def pytest_runtest_logreport(report):
    """Count fault tests: a fault recovered when its test's call phase passed."""
    fault = dict(report.user_properties).get("fault")
    if fault is None:
        return
    if report.when == "call" or (report.when == "setup" and report.failed):
        _FAULTS[report.nodeid] = report.passed


def pytest_terminal_summary(terminalreporter):
    """Print ``faults: N tried, N recovered without a person`` when any fault test ran."""
    if _FAULTS:
        recovered = sum(_FAULTS.values())
        terminalreporter.write_line(f"faults: {len(_FAULTS)} tried, {recovered} recovered without a person")
