"""The lake's promises: nothing landed is lost, validated partitions are found in order, writes are atomic."""

from __future__ import annotations

import hashlib
import json
import os

import pandas as pd
import pytest

from retrain_platform.storage.lake import Lake
from retrain_platform_tests.conftest import START, credit_frame, make_spec

DAY = START.isoformat()


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(root=str(tmp_path / "home"))


@pytest.fixture
def spec():
    return make_spec()


def landed(lake: Lake, spec, content: bytes, partition: str = DAY):
    folder = lake.landing_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{partition}.csv"
    path.write_bytes(content)
    return path


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def superseded(lake: Lake, spec) -> dict[str, bytes]:
    folder = lake.raw_path(spec, DAY).parent / "superseded"
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


# --------------------------------------------------------------------------------------------------
# copy_raw
# --------------------------------------------------------------------------------------------------


def test_copy_raw_copies_unchanged_and_returns_the_hash(lake, spec):
    content = b"income,age\n1.5,30\n"
    source = landed(lake, spec, content)
    path, digest = lake.copy_raw(spec, source, DAY)
    assert path == lake.raw_path(spec, DAY) == lake.root_path / "lake" / spec.name / "raw" / f"{DAY}.csv"
    assert path.read_bytes() == content
    assert digest == sha(content)
    assert source.read_bytes() == content  # the landing is never modified or moved
    assert superseded(lake, spec) == {}


def test_copy_raw_never_rewrites_identical_content(lake, spec):
    content = b"income\n1\n"
    lake.copy_raw(spec, landed(lake, spec, content), DAY)
    target = lake.raw_path(spec, DAY)
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))  # an old, recognisable mtime
    before = target.stat()

    path, digest = lake.copy_raw(spec, landed(lake, spec, content), DAY)  # landed again, same bytes

    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert digest == sha(content)
    assert superseded(lake, spec) == {}


def test_copy_raw_keeps_every_superseded_landing(lake, spec):
    first, second = b"income\n1\n", b"income\n2\n"
    lake.copy_raw(spec, landed(lake, spec, first), DAY)
    path, digest = lake.copy_raw(spec, landed(lake, spec, second), DAY)
    assert path.read_bytes() == second and digest == sha(second)
    assert superseded(lake, spec) == {f"{DAY}.{sha(first)[:12]}.csv": first}

    # back to the first version: the second is kept too, nothing is lost
    path, _ = lake.copy_raw(spec, landed(lake, spec, first), DAY)
    assert path.read_bytes() == first
    assert superseded(lake, spec) == {f"{DAY}.{sha(first)[:12]}.csv": first, f"{DAY}.{sha(second)[:12]}.csv": second}


def test_copy_raw_partitions_are_independent(lake, spec):
    other = "2026-03-02"
    lake.copy_raw(spec, landed(lake, spec, b"a\n1\n"), DAY)
    lake.copy_raw(spec, landed(lake, spec, b"a\n2\n", other), other)
    assert lake.raw_path(spec, DAY).read_bytes() == b"a\n1\n"
    assert lake.raw_path(spec, other).read_bytes() == b"a\n2\n"
    assert superseded(lake, spec) == {}


# --------------------------------------------------------------------------------------------------
# features and quarantine
# --------------------------------------------------------------------------------------------------


def test_write_features_lifts_quarantine(lake):
    record = {"problems": [{"column": "age", "check": "not_nullable"}], "what_to_do": "fix it"}
    path = lake.quarantine("m", DAY, record)
    assert lake.is_quarantined("m", DAY)
    assert json.loads(path.read_text()) == record
    assert lake.feature_partitions("m") == []

    lake.write_features("m", DAY, credit_frame(START, rows=5))

    assert not lake.is_quarantined("m", DAY)
    assert not path.exists()
    assert lake.feature_partitions("m") == [DAY]


def test_quarantine_withdraws_earlier_features(lake):
    lake.write_features("m", DAY, credit_frame(START, rows=5))
    lake.quarantine("m", DAY, {"problems": [], "what_to_do": "fix it"})
    assert lake.is_quarantined("m", DAY)
    assert not lake.features_path("m", DAY).exists()
    assert lake.feature_partitions("m") == []


def test_quarantine_is_per_partition_and_per_model(lake):
    lake.quarantine("m", DAY, {"problems": []})
    assert not lake.is_quarantined("m", "2026-03-02")
    assert not lake.is_quarantined("other", DAY)


def test_feature_partitions_oldest_first(lake):
    keys = ["2026-03-10", "2025-12-31", "2026-03-02", "2026-01-01", "2026-02-28"]
    for key in keys:
        lake.write_features("m", key, credit_frame(START, rows=2))
    (lake.features_path("m", DAY).parent / "notes.txt").write_text("not a partition")
    assert lake.feature_partitions("m") == sorted(keys)
    assert lake.feature_partitions("m")[0] == "2025-12-31"
    assert lake.feature_partitions("never_seen") == []


def test_read_features_adds_partition_in_requested_order(lake):
    a, b = credit_frame(START, rows=3), credit_frame(START, rows=2, seed=1)
    lake.write_features("m", "2026-03-01", a)
    lake.write_features("m", "2026-03-02", b)

    frame = lake.read_features("m", ["2026-03-01", "2026-03-02"])

    assert list(frame.columns) == [*a.columns, "_partition"]
    assert frame["_partition"].tolist() == ["2026-03-01"] * 3 + ["2026-03-02"] * 2
    assert frame["income"].tolist() == a["income"].tolist() + b["income"].tolist()
    assert frame.index.tolist() == list(range(5))
    assert lake.feature_rows("m", ["2026-03-01", "2026-03-02"]) == 5
    assert lake.read_features("m", ["2026-03-02"])["_partition"].tolist() == ["2026-03-02"] * 2
    assert lake.read_features("m", []).empty


# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------


def test_writes_leave_no_temporary_files(lake, spec):
    first = b"a\n1\n"
    lake.copy_raw(spec, landed(lake, spec, first), DAY)
    lake.copy_raw(spec, landed(lake, spec, b"a\n2\n"), DAY)
    lake.write_features("m", DAY, credit_frame(START, rows=3))
    lake.write_features("m", DAY, credit_frame(START, rows=4))
    lake.quarantine("m", "2026-03-02", {"problems": []})
    lake.quarantine("m", "2026-03-02", {"problems": ["again"]})

    names = files_under(lake.root_path / "lake")
    assert not [n for n in names if "tmp" in n or "/." in n], names
    assert names == sorted(
        [
            f"m/features/{DAY}.parquet",
            "m/quarantine/2026-03-02.json",
            f"{spec.name}/raw/{DAY}.csv",
            f"{spec.name}/raw/superseded/{DAY}.{sha(first)[:12]}.csv",
        ]
    )


def _crash_mid_write(self, path, *args, **kwargs):
    with open(path, "wb") as handle:
        handle.write(b"PAR1 half a file")
    raise OSError("No space left on device")


def test_failed_write_keeps_the_previous_partition(lake, monkeypatch):
    previous = credit_frame(START, rows=3)
    lake.write_features("m", DAY, previous)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _crash_mid_write)
    with pytest.raises(OSError, match="No space left"):
        lake.write_features("m", DAY, credit_frame(START, rows=9))
    monkeypatch.undo()
    assert lake.feature_rows("m", [DAY]) == 3
    pd.testing.assert_frame_equal(lake.read_features("m", [DAY]).drop(columns="_partition"), previous)


def test_failed_write_leaves_no_temporary_file(lake, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _crash_mid_write)
    with pytest.raises(OSError):
        lake.write_features("m", DAY, credit_frame(START, rows=9))
    folder = lake.features_path("m", DAY).parent
    leftovers = [p.name for p in folder.iterdir()] if folder.exists() else []
    assert leftovers == []
