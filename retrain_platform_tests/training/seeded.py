"""A platform state that already has a champion, built once per test process and copied into each test.

Reaching a first champion takes three ingest runs and a retrain (seconds of SQLite writes); most tests of
monitoring, promotion, automation and operations start from exactly that state. The template is produced by the
platform itself (``Platform.land_and_ingest`` then ``Platform.retrain``, as in the smoke test) and each test gets
its own copy of the Dagster instance, MLflow store and lake, so tests stay independent.

State of a copy: partitions ``START`` .. ``START + 2`` landed and ingested (unshifted ``credit_frame`` rows),
``SEEDED_MODEL`` v1 trained on them and promoted by the gate (first model). Model artifacts stay in the template's
artifact folder (read-only for copies; new runs add their own uniquely named folders there).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from retrain_platform.registry import ModelRegistry
from retrain_platform_tests.conftest import START, Platform, make_spec

SEEDED_MODEL = "credit_seeded"
SEEDED_DAYS = 3
LAST_SEEDED_DAY = START + dt.timedelta(days=SEEDED_DAYS - 1)

_TEMPLATES: dict[int, Path] = {}


@dataclass(frozen=True)
class SeededState:
    """Where one copy of the seeded state lives (what ``RETRAIN_HOME`` & co. would point at)."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        return (self.root / "artifacts").as_uri()

    def registry(self) -> ModelRegistry:
        return ModelRegistry(tracking_uri=self.tracking_uri, artifact_root=self.artifact_root)


def _template(tmp_path_factory) -> Path:
    key = id(tmp_path_factory)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    state = SeededState(tmp_path_factory.mktemp("seeded-template"))
    state.dagster_home.mkdir()
    with DagsterInstance.local_temp(str(state.dagster_home)) as instance:
        platform = Platform(make_spec(SEEDED_MODEL), state.home, instance, state.registry())
        assert all(run.success for run in platform.land_and_ingest(SEEDED_DAYS)), "seeding: ingest failed"
        assert platform.retrain().success, "seeding: retrain failed"
        champion = platform.registry.champion(SEEDED_MODEL)
        assert champion is not None and champion.version == "1", "seeding: the first model was not promoted"
    _TEMPLATES[key] = state.root
    return state.root


def copy_seeded_state(tmp_path_factory, destination: Path) -> SeededState:
    """Copy the seeded instance, MLflow store and lake to ``destination`` (built on first use)."""
    shutil.copytree(_template(tmp_path_factory), destination, ignore=shutil.ignore_patterns("artifacts"))
    return SeededState(destination)


@contextlib.contextmanager
def seeded_platforms(tmp_path: Path, tmp_path_factory) -> Iterator[Callable[..., Platform]]:
    """Yield ``make(**spec_overrides) -> Platform``: each call is a fresh copy of the seeded state.

    ``spec_overrides`` replace top-level sections of the test spec (as in ``make_spec``); the model name is always
    ``SEEDED_MODEL`` so the copied registry and lake match.
    """
    opened: list[DagsterInstance] = []

    def make(**spec_overrides) -> Platform:
        state = copy_seeded_state(tmp_path_factory, tmp_path / f"seeded-{len(opened)}")
        instance = DagsterInstance.local_temp(str(state.dagster_home))
        opened.append(instance)
        return Platform(make_spec(SEEDED_MODEL, **spec_overrides), state.home, instance, state.registry())

    try:
        yield make
    finally:
        for instance in opened:
            instance.dispose()
