"""The reference sketch: everything a drift check needs from the reference window.

Built once (when a champion model is promoted), saved beside the model, and loaded for
every later partition, so a check never reloads or re-sorts the reference window.

Per column it keeps exactly what the evidently-equivalent methods need:

* numerical: the finite values, sorted (needed for exact K-S and Wasserstein scores),
  and the number of missing values;
* categorical: the count of every observed category, and the number of missing values.

It also keeps the reference row count and a bounded, reproducible row sample of the
reference window for the evidently HTML report (see :mod:`retrain_platform.drift.report`).

On disk it is a directory holding ``sketch.json`` (format version, counts, categories,
categorical sample values) and ``arrays.npz`` (sorted numeric values and numeric sample
columns). Nothing is pickled: arrays load with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retrain_platform.drift.columns import (
    NUMERICAL,
    CategoricalColumn,
    CategoryValue,
    ColumnKind,
    ColumnSummary,
    NumericColumn,
    summarize,
    to_category_value,
    validate_column_kinds,
)
from retrain_platform.drift.sampling import DEFAULT_SAMPLE_ROWS, sample_frame, validate_seed

FORMAT = "retrain_platform.drift.reference_sketch"
FORMAT_VERSION = 1
METADATA_FILE = "sketch.json"
ARRAYS_FILE = "arrays.npz"


@dataclass(frozen=True, eq=False)
class ReferenceSketch:
    """Summaries of a reference window, reused by every drift check against it.

    Build with :meth:`from_frame`, persist with :meth:`save` / :meth:`load`.
    """

    column_kinds: dict[str, ColumnKind]
    """``{column: "numerical" | "categorical"}``, in check order."""
    summaries: dict[str, ColumnSummary] = field(repr=False)
    """Per-column summary (sorted values or category counts)."""
    n_rows: int
    """Rows in the reference window."""
    sample: pd.DataFrame = field(repr=False)
    """Bounded reproducible row sample of the reference window, for the HTML report."""
    sample_seed: int
    """Seed the sample was drawn with."""

    @classmethod
    def from_frame(
        cls,
        reference: pd.DataFrame,
        column_kinds: Mapping[str, str],
        *,
        sample_rows: int | None = DEFAULT_SAMPLE_ROWS,
        seed: int = 0,
    ) -> ReferenceSketch:
        """Summarize the reference window.

        Args:
            reference: the reference window (e.g. the champion's training data).
            column_kinds: ``{column: "numerical" | "categorical"}``; only these columns are checked.
            sample_rows: rows kept for the HTML report (``None`` keeps all of them).
            seed: seed of that sample.

        Raises:
            ValueError: for an empty frame, unknown kinds, columns missing from the frame,
                non-numeric data in a numerical column or unsupported category types.
        """
        kinds = validate_column_kinds(column_kinds)
        if not isinstance(reference, pd.DataFrame):
            raise ValueError(f"reference must be a pandas DataFrame; got {type(reference).__name__}")
        missing = [name for name in kinds if name not in reference.columns]
        if missing:
            raise ValueError(
                f"columns {missing} are not in the reference frame (it has {list(reference.columns)}); "
                "fix column_kinds or the frame"
            )
        if len(reference) == 0:
            raise ValueError("the reference frame has no rows; a drift reference needs data")
        seed = validate_seed(seed)
        summaries = {name: summarize(reference[name], kind) for name, kind in kinds.items()}
        for summary in summaries.values():
            if isinstance(summary, NumericColumn):
                summary.sorted_values.flags.writeable = False
        sample = _normalized_sample(sample_frame(reference[list(kinds)], sample_rows, seed), kinds)
        return cls(kinds, summaries, len(reference), sample, seed)

    def save(self, directory: Path | str) -> None:
        """Write ``sketch.json`` and ``arrays.npz`` into ``directory`` (created if needed).

        Each file is written under a temporary name and renamed, so a reader never sees
        a half-written file.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        columns: list[dict[str, Any]] = []
        for position, (name, kind) in enumerate(self.column_kinds.items()):
            summary = self.summaries[name]
            entry: dict[str, Any] = {"name": name, "kind": kind, "n_missing": summary.n_missing}
            if isinstance(summary, NumericColumn):
                # Arrays are keyed by position: column names need not be valid file names.
                arrays[f"values_{position}"] = summary.sorted_values
                arrays[f"sample_{position}"] = self.sample[name].to_numpy(dtype=np.float64)
            else:
                entry["values"] = list(summary.counts.values)
                entry["counts"] = summary.counts.counts.tolist()
                entry["sample"] = self.sample[name].tolist()
            columns.append(entry)
        metadata = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "sample_seed": self.sample_seed,
            "sample_rows": len(self.sample),
            "columns": columns,
        }
        replace_atomically(directory / ARRAYS_FILE, lambda f: np.savez(f, **arrays))
        replace_atomically(
            directory / METADATA_FILE,
            lambda f: f.write(json.dumps(metadata, allow_nan=False).encode()),
        )

    @classmethod
    def load(cls, directory: Path | str) -> ReferenceSketch:
        """Read a sketch written by :meth:`save`.

        Raises:
            FileNotFoundError: if the directory does not hold a sketch.
            ValueError: if the files are not a sketch of a supported format version.
        """
        directory = Path(directory)
        for file_name in (METADATA_FILE, ARRAYS_FILE):
            if not (directory / file_name).is_file():
                raise FileNotFoundError(
                    f"no reference sketch in {directory}: {file_name} is missing; "
                    "build one with ReferenceSketch.from_frame(...).save(directory)"
                )
        metadata = json.loads((directory / METADATA_FILE).read_text())
        if metadata.get("format") != FORMAT or metadata.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / METADATA_FILE} is not a version-{FORMAT_VERSION} reference sketch "
                f"(format={metadata.get('format')!r}, version={metadata.get('version')!r}); "
                "rebuild it with ReferenceSketch.from_frame(...).save(directory)"
            )
        kinds: dict[str, ColumnKind] = {}
        summaries: dict[str, ColumnSummary] = {}
        sample_columns: dict[str, Any] = {}
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            for position, entry in enumerate(metadata["columns"]):
                name, kind = entry["name"], entry["kind"]
                kinds[name] = kind
                if kind == NUMERICAL:
                    values = arrays[f"values_{position}"]
                    values.flags.writeable = False
                    summaries[name] = NumericColumn(values, entry["n_missing"])
                    sample_columns[name] = arrays[f"sample_{position}"]
                else:
                    summaries[name] = CategoricalColumn.from_counts(
                        entry["values"], entry["counts"], entry["n_missing"]
                    )
                    sample_columns[name] = pd.Series(entry["sample"], dtype=object)
        kinds = validate_column_kinds(kinds)
        sample = pd.DataFrame(sample_columns, index=pd.RangeIndex(metadata["sample_rows"]))
        return cls(kinds, summaries, metadata["n_rows"], sample, metadata["sample_seed"])


def _normalized_sample(sample: pd.DataFrame, kinds: Mapping[str, ColumnKind]) -> pd.DataFrame:
    """The sample as it will read back from disk: float64 numbers, plain Python categories."""
    columns: dict[str, Any] = {}
    for name, kind in kinds.items():
        if kind == NUMERICAL:
            columns[name] = sample[name].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = [_sample_category(v, name) for v in sample[name].tolist()]
            columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(sample)))


def _sample_category(value: object, column: str) -> CategoryValue | None:
    """A category for the stored sample; missing values (incl. ±inf, as in the checks) become ``None``."""
    if value is None or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
        return None
    converted = to_category_value(value, column)
    if isinstance(converted, float) and not np.isfinite(converted):
        return None
    return converted


def replace_atomically(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        write(handle)
    os.replace(temporary, path)
