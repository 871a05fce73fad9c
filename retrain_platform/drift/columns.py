"""Column kinds and the per-column summaries every drift method works from.

A pandas column becomes either a :class:`NumericColumn` (finite values, sorted once)
or a :class:`CategoricalColumn` (counts per observed category). The same constructors
are used for the reference window (when the sketch is built) and for every current
partition, so both sides are cleaned identically.

Cleaning follows evidently 0.7's ``ValueDrift`` (``get_one_column_drift``): ``NaN``,
``None``, ``pd.NA`` and ``±inf`` are all treated as missing and dropped per column;
they are counted in ``n_missing`` but take no part in any statistic.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["numerical", "categorical"]
NUMERICAL: ColumnKind = "numerical"
CATEGORICAL: ColumnKind = "categorical"
COLUMN_KINDS: tuple[ColumnKind, ...] = (NUMERICAL, CATEGORICAL)

#: Python types a category value may have; they survive the JSON round trip of the sketch.
CategoryValue = str | bool | int | float


def validate_column_kinds(column_kinds: Mapping[str, str]) -> dict[str, ColumnKind]:
    """Check a ``{column: kind}`` mapping and return it as a plain dict.

    Raises:
        ValueError: if it is empty, a name is not a string or a kind is not
            ``"numerical"`` or ``"categorical"``.
    """
    if not isinstance(column_kinds, Mapping) or not column_kinds:
        raise ValueError('column_kinds must be a non-empty mapping such as {"age": "numerical", "plan": "categorical"}')
    checked: dict[str, ColumnKind] = {}
    for name, kind in column_kinds.items():
        if not isinstance(name, str):
            raise ValueError(f"column names must be strings; got {name!r} ({type(name).__name__})")
        if kind not in COLUMN_KINDS:
            raise ValueError(f"column {name!r} has kind {kind!r}; use one of {', '.join(map(repr, COLUMN_KINDS))}")
        checked[name] = kind
    return checked


@dataclass(frozen=True)
class CategoryCounts:
    """Observed values of a column and how often each occurs (all counts > 0)."""

    values: tuple[Hashable, ...]
    counts: np.ndarray

    @property
    def total(self) -> int:
        """Number of non-missing entries."""
        return int(self.counts.sum())

    def as_dict(self) -> dict[Hashable, int]:
        """``{value: count}``."""
        return dict(zip(self.values, self.counts.tolist(), strict=True))


@dataclass(frozen=True, eq=False)
class NumericColumn:
    """Finite values of a numeric column in ascending order, and how many were missing."""

    sorted_values: np.ndarray
    n_missing: int

    @classmethod
    def from_series(cls, series: pd.Series) -> NumericColumn:
        """Clean and sort one column (the only sort a drift check does per column).

        Raises:
            ValueError: if the column holds non-null values of a non-numeric dtype.
        """
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            if series.notna().any():
                raise ValueError(
                    f"column {series.name!r} is declared numerical but has dtype {series.dtype}; "
                    "convert it with pd.to_numeric or declare it categorical"
                )
            return cls(np.empty(0, dtype=np.float64), len(series))
        # copy=True: the in-place sort below must never reorder the caller's frame.
        values = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        values.sort()
        # NumPy sorts -inf first and inf, NaN last, so the finite values are one slice.
        start = int(np.searchsorted(values, -np.inf, side="right"))
        stop = int(np.searchsorted(values, np.inf, side="left"))
        return cls(values[start:stop], len(values) - (stop - start))

    @property
    def n(self) -> int:
        """Number of finite values."""
        return int(self.sorted_values.size)

    @cached_property
    def nunique(self) -> int:
        """Number of distinct finite values."""
        if self.n == 0:
            return 0
        return int(np.count_nonzero(np.diff(self.sorted_values))) + 1

    @cached_property
    def std(self) -> float:
        """Population standard deviation (``ddof=0``, as ``np.std``)."""
        return float(np.std(self.sorted_values))

    @cached_property
    def counts(self) -> CategoryCounts:
        """Distinct values with their counts."""
        # Run lengths of the sorted array: np.unique would sort the values again.
        boundaries = np.flatnonzero(np.diff(self.sorted_values)) + 1
        starts = np.concatenate(([0], boundaries)) if self.n else boundaries
        counts = np.diff(np.concatenate((starts, [self.n])))
        return CategoryCounts(tuple(self.sorted_values[starts].tolist()), counts.astype(np.int64))


@dataclass(frozen=True, eq=False)
class CategoricalColumn:
    """Counts of the observed categories of a column, and how many entries were missing."""

    counts: CategoryCounts
    n_missing: int

    @classmethod
    def from_series(cls, series: pd.Series) -> CategoricalColumn:
        """Count categories (strings, booleans, numbers or a pandas categorical).

        Raises:
            ValueError: if a value is not a string, boolean or number.
        """
        value_counts = series.value_counts(dropna=True, sort=False)
        values: list[CategoryValue] = []
        counts: list[int] = []
        for value, count in value_counts.items():
            # A pandas categorical also lists categories that never occur.
            if count == 0:
                continue
            value = to_category_value(value, series.name)
            if isinstance(value, float) and np.isinf(value):
                continue
            values.append(value)
            counts.append(int(count))
        observed = CategoryCounts(tuple(values), np.asarray(counts, dtype=np.int64))
        return cls(observed, len(series) - observed.total)

    @classmethod
    def from_counts(cls, values: list[CategoryValue], counts: list[int], n_missing: int) -> CategoricalColumn:
        """Rebuild a column summary from stored counts."""
        return cls(CategoryCounts(tuple(values), np.asarray(counts, dtype=np.int64)), n_missing)

    @property
    def n(self) -> int:
        """Number of non-missing entries."""
        return self.counts.total

    @property
    def nunique(self) -> int:
        """Number of observed categories."""
        return len(self.counts.values)


ColumnSummary = NumericColumn | CategoricalColumn


def summarize(series: pd.Series, kind: ColumnKind) -> ColumnSummary:
    """Build the summary of ``series`` for a column of the given kind."""
    if kind == NUMERICAL:
        return NumericColumn.from_series(series)
    return CategoricalColumn.from_series(series)


def to_category_value(value: object, column: Hashable) -> CategoryValue:
    """Convert a category to a plain ``str``, ``bool``, ``int`` or ``float``.

    Raises:
        ValueError: for any other type (e.g. timestamps), naming the column.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(
        f"column {column!r} is declared categorical but holds {value!r} ({type(value).__name__}); "
        "categories must be strings, booleans or numbers - convert the column with .astype(str)"
    )
