"""raw_batch: the landed file enters the lake unchanged and its SHA-256 is the partition's data version."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from dagster import AssetRecordsFilter

from retrain_platform_tests.conftest import START, credit_frame

DAY = START + dt.timedelta(days=4)


def latest(platform, key, day: dt.date = DAY):
    """The newest materialization of ``key`` for ``day``, as the UI lists it."""
    records = platform.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def data_version(platform, key, day: dt.date = DAY) -> str:
    return latest(platform, key, day).tags["dagster/data_version"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingest_raw(platform, day: dt.date = DAY):
    """Materialize only raw_batch for ``day`` (what a re-landing changes first)."""
    run = platform.ingest(day, asset_selection=[platform.keys.raw_batch])
    assert run.success
    return run


def test_data_version_is_the_file_hash_and_follows_content(platform):
    landed = platform.land(DAY, credit_frame(DAY, rows=50))
    first = landed.read_bytes()
    assert platform.ingest(DAY).success
    assert data_version(platform, platform.keys.raw_batch) == sha256(first)
    materialization = latest(platform, platform.keys.raw_batch)
    assert materialization.metadata["sha256"].value == sha256(first)
    assert materialization.metadata["bytes"].value == len(first)

    # identical bytes landed again (new mtime, same content): same data version, nothing superseded
    landed.write_bytes(first)
    ingest_raw(platform)
    assert data_version(platform, platform.keys.raw_batch) == sha256(first)
    raw_dir = platform.lake.raw_path(platform.spec, DAY.isoformat()).parent
    assert not (raw_dir / "superseded").exists()

    # a corrected file: a new data version, the lake copy follows it, the earlier landing is kept
    second = credit_frame(DAY, rows=50, seed=1).to_csv(index=False).encode()
    assert second != first
    landed.write_bytes(second)
    ingest_raw(platform)
    assert data_version(platform, platform.keys.raw_batch) == sha256(second)
    assert platform.lake.raw_path(platform.spec, DAY.isoformat()).read_bytes() == second
    assert [p.read_bytes() for p in (raw_dir / "superseded").iterdir()] == [first]


def test_data_versions_are_per_partition(platform):
    other = DAY + dt.timedelta(days=1)
    a = platform.land(DAY, credit_frame(DAY, rows=20)).read_bytes()
    b = platform.land(other, credit_frame(other, rows=20)).read_bytes()
    ingest_raw(platform, DAY)
    ingest_raw(platform, other)
    assert data_version(platform, platform.keys.raw_batch, DAY) == sha256(a)
    assert data_version(platform, platform.keys.raw_batch, other) == sha256(b)


def test_missing_landing_fails_and_names_the_expected_path(platform):
    platform.land(DAY, credit_frame(DAY, rows=20))  # a different day's file must not be used
    missing = DAY + dt.timedelta(days=2)
    expected = platform.lake.landing_dir(platform.spec) / f"{missing.isoformat()}.csv"

    run = platform.ingest(missing)

    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{platform.spec.name}__raw_batch"
    description = failure.step_failure_data.user_failure_data.description
    assert str(expected) in description and missing.isoformat() in description
    # recorded relative to the lake root (a landing below it), so the record survives a move of the lake
    recorded = failure.step_failure_data.user_failure_data.metadata["expected"].value
    assert recorded == f"landing/{platform.spec.name}/{expected.name}"
    assert latest(platform, platform.keys.raw_batch, missing) is None
    assert latest(platform, platform.keys.features, missing) is None
    assert not platform.lake.raw_path(platform.spec, missing.isoformat()).exists()
    assert not platform.lake.is_quarantined(platform.spec.name, missing.isoformat())


def test_features_record_the_hash_of_the_raw_copy_they_came_from(platform):
    content = platform.land(DAY, credit_frame(DAY, rows=30)).read_bytes()
    assert platform.ingest(DAY).success
    assert platform.lake.features_raw_sha256(platform.spec.name, DAY.isoformat()) == sha256(content)
    assert latest(platform, platform.keys.features).metadata["raw_sha256"].value == sha256(content)


@pytest.mark.faults
def test_relanding_whose_features_write_fails_leaves_no_old_features(platform, monkeypatch):
    spec, lake, partition = platform.spec, platform.lake, DAY.isoformat()
    first = platform.land(DAY, credit_frame(DAY, rows=30)).read_bytes()
    assert platform.ingest(DAY).success

    second = platform.land(DAY, credit_frame(DAY, rows=30, seed=1)).read_bytes()
    monkeypatch.setenv("RETRAIN_FAILPOINTS", "lake.write_features=enospc")
    run = platform.ingest(DAY)

    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert failure.step_key == f"{spec.name}__features"
    assert "No space left on device" in failure.step_failure_data.error.cause.message
    # the new landing is in the lake, the old one kept, and no features describe the old content any more
    assert lake.raw_path(spec, partition).read_bytes() == second
    assert [p.read_bytes() for p in (lake.raw_path(spec, partition).parent / "superseded").iterdir()] == [first]
    assert partition not in lake.feature_partitions(spec.name)
    assert lake.features_raw_sha256(spec.name, partition) is None

    monkeypatch.delenv("RETRAIN_FAILPOINTS")
    assert platform.ingest(DAY).success
    assert lake.features_raw_sha256(spec.name, partition) == sha256(second)
