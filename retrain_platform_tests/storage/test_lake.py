"""The lake's promises: nothing landed is lost, validated partitions are found in order, writes are atomic."""

from __future__ import annotations

import hashlib
import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from retrain_platform.storage.lake import Lake, UnsafeLanding, UnsafePath
from retrain_platform_tests.conftest import START, credit_frame, make_spec

DAY = START.isoformat()
RAW = "0" * 64  # the raw hash a features file records (its value is irrelevant to these tests)


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

    lake.write_features("m", DAY, credit_frame(START, rows=5), raw_sha256=RAW)

    assert not lake.is_quarantined("m", DAY)
    assert not path.exists()
    assert lake.feature_partitions("m") == [DAY]


def test_quarantine_withdraws_earlier_features(lake):
    lake.write_features("m", DAY, credit_frame(START, rows=5), raw_sha256=RAW)
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
        lake.write_features("m", key, credit_frame(START, rows=2), raw_sha256=RAW)
    (lake.features_path("m", DAY).parent / "notes.txt").write_text("not a partition")
    assert lake.feature_partitions("m") == sorted(keys)
    assert lake.feature_partitions("m")[0] == "2025-12-31"
    assert lake.feature_partitions("never_seen") == []


def test_read_features_adds_partition_in_requested_order(lake):
    a, b = credit_frame(START, rows=3), credit_frame(START, rows=2, seed=1)
    lake.write_features("m", "2026-03-01", a, raw_sha256=RAW)
    lake.write_features("m", "2026-03-02", b, raw_sha256=RAW)

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
    lake.write_features("m", DAY, credit_frame(START, rows=3), raw_sha256=RAW)
    lake.write_features("m", DAY, credit_frame(START, rows=4), raw_sha256=RAW)
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


def _crash_mid_write(table, where, *args, **kwargs):
    where.write(b"PAR1 half a file")  # the lake hands pyarrow the open temporary file
    raise OSError("No space left on device")


@pytest.mark.faults
def test_failed_write_keeps_the_previous_partition(lake, monkeypatch):
    previous = credit_frame(START, rows=3)
    lake.write_features("m", DAY, previous, raw_sha256=RAW)
    monkeypatch.setattr(pq, "write_table", _crash_mid_write)
    with pytest.raises(OSError, match="No space left"):
        lake.write_features("m", DAY, credit_frame(START, rows=9), raw_sha256=RAW)
    monkeypatch.undo()
    assert lake.feature_rows("m", [DAY]) == 3
    pd.testing.assert_frame_equal(lake.read_features("m", [DAY]).drop(columns="_partition"), previous)


@pytest.mark.faults
def test_failed_write_leaves_no_temporary_file(lake, monkeypatch):
    monkeypatch.setattr(pq, "write_table", _crash_mid_write)
    with pytest.raises(OSError):
        lake.write_features("m", DAY, credit_frame(START, rows=9), raw_sha256=RAW)
    folder = lake.features_path("m", DAY).parent
    leftovers = [p.name for p in folder.iterdir()] if folder.exists() else []
    assert leftovers == []


# --------------------------------------------------------------------------------------------------
# copy_raw never follows a link and copies only regular files
# --------------------------------------------------------------------------------------------------


def link_targets(lake: Lake, spec, tmp_path) -> dict:
    """Where a hostile or careless link in the landing folder could point."""
    other = lake.raw_path(make_spec(), DAY)  # another model's lake copy
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"income\n42\n")
    return {"etc_passwd": "/etc/passwd", "other_models_lake": str(other), "dangling": str(tmp_path / "gone.csv")}


@pytest.mark.parametrize("target", ["etc_passwd", "other_models_lake", "dangling"])
def test_copy_raw_refuses_a_symbolic_link(lake, spec, tmp_path, target):
    folder = lake.landing_dir(spec)
    folder.mkdir(parents=True)
    link = folder / f"{DAY}.csv"
    link.symlink_to(link_targets(lake, spec, tmp_path)[target])

    with pytest.raises(UnsafeLanding, match=rf"{link} is a symbolic link; the lake never copies through a link"):
        lake.copy_raw(spec, link, DAY)

    assert not lake.raw_path(spec, DAY).exists()
    assert not lake.model_dir(spec.name).exists()  # nothing at all entered this model's lake
    assert link.is_symlink()  # refused, not removed


def test_copy_raw_refuses_a_link_over_an_existing_copy(lake, spec):
    lake.copy_raw(spec, landed(lake, spec, b"income\n1\n"), DAY)
    lake.write_features(spec.name, DAY, credit_frame(START, rows=3), raw_sha256=RAW)
    source = lake.landing_dir(spec) / f"{DAY}.csv"
    source.unlink()
    source.symlink_to("/etc/passwd")

    with pytest.raises(UnsafeLanding):
        lake.copy_raw(spec, source, DAY)

    assert lake.raw_path(spec, DAY).read_bytes() == b"income\n1\n"
    assert lake.feature_partitions(spec.name) == [DAY]  # a refused landing changes nothing
    assert superseded(lake, spec) == {}


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_copy_raw_refuses_what_is_not_a_regular_file(lake, spec, kind):
    folder = lake.landing_dir(spec)
    folder.mkdir(parents=True)
    source = folder / f"{DAY}.csv"
    source.mkdir() if kind == "directory" else os.mkfifo(source)  # a fifo must not block the copy

    with pytest.raises(UnsafeLanding, match=rf"{source} is not a regular file"):
        lake.copy_raw(spec, source, DAY)
    assert not lake.raw_path(spec, DAY).exists()


def test_copy_raw_keeps_the_landing_modification_time(lake, spec):
    source = landed(lake, spec, b"income\n1\n")
    os.utime(source, ns=(2_000_000_000, 3_000_000_000))
    path, _ = lake.copy_raw(spec, source, DAY)
    assert path.stat().st_mtime_ns == 3_000_000_000


# --------------------------------------------------------------------------------------------------
# features follow the raw copy they were computed from
# --------------------------------------------------------------------------------------------------


def test_different_relanding_removes_the_old_features(lake, spec):
    first = b"income\n1\n"
    lake.copy_raw(spec, landed(lake, spec, first), DAY)
    lake.write_features(spec.name, DAY, credit_frame(START, rows=3), raw_sha256=sha(first))

    lake.copy_raw(spec, landed(lake, spec, b"income\n2\n"), DAY)

    assert not lake.features_path(spec.name, DAY).exists()
    assert lake.feature_partitions(spec.name) == []
    assert lake.features_raw_sha256(spec.name, DAY) is None
    assert superseded(lake, spec) == {f"{DAY}.{sha(first)[:12]}.csv": first}  # the raw landing is kept


def test_identical_relanding_keeps_the_features(lake, spec):
    content = b"income\n1\n"
    lake.copy_raw(spec, landed(lake, spec, content), DAY)
    lake.write_features(spec.name, DAY, credit_frame(START, rows=3), raw_sha256=sha(content))
    lake.copy_raw(spec, landed(lake, spec, content), DAY)
    assert lake.features_raw_sha256(spec.name, DAY) == sha(content)


def test_features_record_the_raw_sha256_in_the_parquet_footer(lake):
    frame = credit_frame(START, rows=4)
    path = lake.write_features("m", DAY, frame, raw_sha256=sha(b"the raw bytes"))

    assert lake.features_raw_sha256("m", DAY) == sha(b"the raw bytes")
    assert pq.read_schema(path).metadata[b"retrain.raw_sha256"] == sha(b"the raw bytes").encode()
    # the record changes nothing a reader of the features sees
    pd.testing.assert_frame_equal(lake.read_features("m", [DAY]).drop(columns="_partition"), frame)

    lake.write_features("m", DAY, frame, raw_sha256=sha(b"newer raw bytes"))
    assert lake.features_raw_sha256("m", DAY) == sha(b"newer raw bytes")


def test_features_raw_sha256_is_none_without_features_or_record(lake):
    assert lake.features_raw_sha256("m", DAY) is None
    older = lake.features_path("m", DAY)  # written before the hash was recorded
    older.parent.mkdir(parents=True)
    credit_frame(START, rows=2).to_parquet(older, index=False)
    assert lake.features_raw_sha256("m", DAY) is None


def test_read_raw_and_hash_hashes_the_bytes_it_read(lake, spec):
    content = credit_frame(START, rows=5).to_csv(index=False).encode()
    lake.copy_raw(spec, landed(lake, spec, content), DAY)
    frame, digest = lake.read_raw_and_hash(spec, DAY)
    assert digest == sha(content)
    assert len(frame) == 5
    pd.testing.assert_frame_equal(frame, lake.read_raw(spec, DAY))


# --------------------------------------------------------------------------------------------------
# fail points on the write paths
# --------------------------------------------------------------------------------------------------


@pytest.mark.faults
@pytest.mark.parametrize("action", ["enospc", "erofs"])
def test_failed_raw_copy_changes_nothing(lake, spec, monkeypatch, action):
    lake.copy_raw(spec, landed(lake, spec, b"income\n1\n"), DAY)
    lake.write_features(spec.name, DAY, credit_frame(START, rows=3), raw_sha256=sha(b"income\n1\n"))
    before = files_under(lake.root_path / "lake")
    monkeypatch.setenv("RETRAIN_FAILPOINTS", f"lake.copy_raw={action}")

    with pytest.raises(OSError, match="injected at fail point lake.copy_raw"):
        lake.copy_raw(spec, landed(lake, spec, b"income\n2\n"), DAY)

    assert files_under(lake.root_path / "lake") == before
    assert lake.raw_path(spec, DAY).read_bytes() == b"income\n1\n"


@pytest.mark.faults
def test_failed_features_write_keeps_quarantine_and_writes_nothing(lake, monkeypatch):
    lake.quarantine("m", DAY, {"problems": []})
    monkeypatch.setenv("RETRAIN_FAILPOINTS", "lake.write_features=enospc")
    with pytest.raises(OSError, match="No space left on device"):
        lake.write_features("m", DAY, credit_frame(START, rows=3), raw_sha256=RAW)
    assert lake.is_quarantined("m", DAY)
    assert lake.feature_partitions("m") == []


def written_report(lake: Lake, model: str, day: str, text: str = "<html>report</html>"):
    path = lake.report_path(model, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_reports_are_read_and_listed_by_partition(lake):
    for day in ("2026-01-02", "2026-01-01"):
        written_report(lake, "churn", day, f"<html>{day}</html>")
    (lake.report_path("churn", DAY).parent / "notes.txt").write_text("not a report")
    assert lake.report_file("churn", "2026-01-01") == "reports/churn/drift/2026-01-01.html"
    assert lake.report_path("churn", "2026-01-01") == lake.root_path / "reports/churn/drift/2026-01-01.html"
    with lake.open_report("churn", "2026-01-02") as handle:
        assert handle.read() == b"<html>2026-01-02</html>"
    assert lake.report_partitions("churn") == ["2026-01-01", "2026-01-02"]
    assert lake.report_partitions("sales") == []
    with pytest.raises(FileNotFoundError):
        lake.open_report("churn", "2026-01-03")


def test_reports_are_never_read_through_a_link(lake, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "2026-01-01.html").write_text("secret")
    folder = written_report(lake, "churn", "2026-01-05").parent
    (folder / "2026-01-01.html").symlink_to(outside / "2026-01-01.html")
    (folder / "2026-01-02.html").symlink_to(folder / "2026-01-05.html")  # even one staying inside the lake
    for day in ("2026-01-01", "2026-01-02"):
        with pytest.raises(UnsafePath, match="symbolic link"):
            lake.open_report("churn", day)
    assert lake.report_partitions("churn") == ["2026-01-05"]  # links are not listed

    # a linked model folder: nothing below it is read or listed
    (lake.root_path / "reports" / "sales").symlink_to(outside, target_is_directory=True)
    (outside / "drift").mkdir()
    (outside / "drift" / "2026-01-01.html").write_text("secret")
    with pytest.raises(UnsafePath, match="reports/sales is a symbolic link"):
        lake.open_report("sales", "2026-01-01")
    with pytest.raises(UnsafePath):
        lake.report_partitions("sales")


def test_a_report_that_is_not_a_regular_file_is_refused(lake):
    folder = written_report(lake, "churn", "2026-01-05").parent
    os.mkfifo(folder / "2026-01-01.html")
    (folder / "2026-01-02.html").mkdir()
    for day in ("2026-01-01", "2026-01-02"):
        with pytest.raises(UnsafePath, match="not a regular file"):
            lake.open_report("churn", day)


@pytest.mark.parametrize(
    ("model", "partition"), [("churn", "../../etc/passwd"), ("churn", "a/b"), ("..", "2026-01-01"), ("", "2026-01-01")]
)
def test_report_paths_refuse_what_is_not_a_plain_name(lake, model, partition):
    with pytest.raises(ValueError, match="not a plain file or folder name"):
        lake.open_report(model, partition)
