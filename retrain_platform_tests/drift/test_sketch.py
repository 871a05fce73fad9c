"""Building, saving and loading the reference sketch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_platform.drift import ReferenceSketch, detect_drift
from retrain_platform.drift.sketch import ARRAYS_FILE, METADATA_FILE
from retrain_platform_tests.drift.frames import MIXED_KINDS, mixed_frame


@pytest.fixture()
def reference() -> pd.DataFrame:
    frame = mixed_frame(3_000, seed=1)
    frame.loc[::10, "income"] = np.nan
    frame.loc[::7, "city"] = None
    return frame


def test_round_trip_keeps_what_checks_and_report_use(reference: pd.DataFrame, tmp_path: Path) -> None:
    built = ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=400, seed=3)
    built.save(tmp_path)
    loaded = ReferenceSketch.load(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ARRAYS_FILE, METADATA_FILE])
    assert loaded.column_kinds == built.column_kinds == MIXED_KINDS
    assert (loaded.n_rows, loaded.sample_seed) == (3_000, 3)
    for name, summary in built.summaries.items():
        restored = loaded.summaries[name]
        assert restored.n_missing == summary.n_missing
        if MIXED_KINDS[name] == "numerical":
            np.testing.assert_array_equal(restored.sorted_values, summary.sorted_values)
        else:
            assert restored.counts.as_dict() == summary.counts.as_dict()
    pd.testing.assert_frame_equal(loaded.sample, built.sample)
    assert len(loaded.sample) == 400

    current = mixed_frame(2_000, seed=2, mean_shift=0.3)
    assert detect_drift(current, loaded) == detect_drift(current, built)


def test_saved_files_need_no_pickle(reference: pd.DataFrame, tmp_path: Path) -> None:
    ReferenceSketch.from_frame(reference, MIXED_KINDS).save(tmp_path)
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as arrays:
        assert all(arrays[key].dtype == np.float64 for key in arrays.files)
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    assert metadata["version"] == 1
    city = next(c for c in metadata["columns"] if c["name"] == "city")
    assert sum(city["counts"]) + city["n_missing"] == 3_000


def test_reference_values_are_sorted_once_and_read_only(reference: pd.DataFrame, tmp_path: Path) -> None:
    built = ReferenceSketch.from_frame(reference, MIXED_KINDS)
    built.save(tmp_path)
    for sketch in (built, ReferenceSketch.load(tmp_path)):
        values = sketch.summaries["income"].sorted_values
        assert not values.flags.writeable
        assert np.all(np.diff(values) >= 0)
        assert values.size == 2_700


def test_sample_is_bounded_and_reproducible(reference: pd.DataFrame) -> None:
    first = ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=500, seed=7).sample
    again = ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=500, seed=7).sample
    other = ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=500, seed=8).sample
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert len(ReferenceSketch.from_frame(reference, MIXED_KINDS, sample_rows=None).sample) == 3_000


def test_save_overwrites_an_existing_sketch(reference: pd.DataFrame, tmp_path: Path) -> None:
    ReferenceSketch.from_frame(reference, MIXED_KINDS).save(tmp_path)
    ReferenceSketch.from_frame(reference.iloc[:100], MIXED_KINDS).save(tmp_path)
    assert ReferenceSketch.load(tmp_path).n_rows == 100


def test_load_errors_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ReferenceSketch.from_frame"):
        ReferenceSketch.load(tmp_path / "nowhere")
    ReferenceSketch.from_frame(pd.DataFrame({"x": [1.0, 2.0]}), {"x": "numerical"}).save(tmp_path)
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    (tmp_path / METADATA_FILE).write_text(json.dumps(dict(metadata, version=99)))
    with pytest.raises(ValueError, match="rebuild it"):
        ReferenceSketch.load(tmp_path)


def test_category_types_survive_the_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "flag": [True, False, True, None],
            "code": pd.array([1, 2, 2, None], dtype="Int64"),
            "label": pd.Categorical(["a", "b", None, "a"]),
        }
    )
    kinds = dict.fromkeys(frame.columns, "categorical")
    ReferenceSketch.from_frame(frame, kinds).save(tmp_path)
    loaded = ReferenceSketch.load(tmp_path)
    assert loaded.summaries["flag"].counts.as_dict() == {True: 2, False: 1}
    assert loaded.summaries["code"].counts.as_dict() == {1: 1, 2: 2}
    assert loaded.summaries["label"].counts.as_dict() == {"a": 2, "b": 1}
    assert loaded.sample["flag"].tolist() == [True, False, True, None]
