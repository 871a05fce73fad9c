"""Helpers of the serving tests: a seeded champion served in-process, and a second version to move the alias to."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pandas as pd
from fastapi.testclient import TestClient

from retrain_platform.serving import ServeConfig, build_service, create_app
from retrain_platform.spec import ModelSpec
from retrain_platform.spec.estimator import model_input
from retrain_platform.storage.lake import Lake
from retrain_platform_tests.conftest import Platform
from retrain_platform_tests.training.seeded import LAST_SEEDED_DAY, SEEDED_MODEL

NEXT = LAST_SEEDED_DAY + dt.timedelta(days=1)
PREDICT = f"/v1/models/{SEEDED_MODEL}/predict"
# Fast polling and flushing so a test sees an alias move or a flush within a fraction of a second.
TEST_CONFIG = ServeConfig(poll_seconds=0.05, log_flush_rows=50, log_flush_seconds=0.2)


def features_of(platform: Platform, day: dt.date) -> pd.DataFrame:
    """A landed day's validated features as the lake holds them (what monitoring reads)."""
    return day_features(platform.lake, platform.spec, day)


def day_features(lake: Lake, spec: ModelSpec, day: dt.date) -> pd.DataFrame:
    """:func:`features_of` from a lake and a spec."""
    return lake.read_features(spec.name, [day.isoformat()])[list(spec.features)]


def as_records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NumPy and pandas scalars made plain, missing values null."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in plain.to_dict("records")]


def as_columns(frame: pd.DataFrame) -> dict[str, list]:
    """The same values in the columns form."""
    records = as_records(frame)
    return {name: [r[name] for r in records] for name in frame.columns}


def expected_positive(platform: Platform, version: str, frame: pd.DataFrame):
    """The positive-class probability the registered version gives ``frame`` (the output contract, directly)."""
    info = platform.registry.version(SEEDED_MODEL, version)
    return platform.registry.load(info).predict_proba(model_input(frame, platform.spec))[:, 1]


def second_version(platform: Platform) -> str:
    """Register v2 trained on one more (shifted) day; the gate may or may not promote it. Returns its version."""
    platform.land_and_ingest(1, start=NEXT, shift=1.0)
    assert platform.retrain().success
    return max(platform.registry.versions(SEEDED_MODEL), key=lambda v: int(v.version)).version


def move_alias(platform: Platform, to: str, reason: str = "test") -> None:
    """Move the champion alias the way the gate and rollback do (compare-and-set under the promotion lock)."""
    registry = platform.registry
    with registry.promotion_lock(SEEDED_MODEL):
        current = registry.champion(SEEDED_MODEL)
        registry.move_champion(SEEDED_MODEL, to, expected=current.version if current else None, reason=reason)


@contextlib.contextmanager
def served(platform: Platform, config: ServeConfig = TEST_CONFIG, **follower_options) -> Iterator[TestClient]:
    """A started service for the seeded model (the app's lifespan runs on enter and exit)."""
    service = build_service({SEEDED_MODEL: platform.spec}, platform.registry, platform.lake, config, **follower_options)
    with TestClient(create_app(service)) as client:
        client.service = service
        yield client
