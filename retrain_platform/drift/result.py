"""Results of a drift check: per column and for the whole partition."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retrain_platform.drift.columns import ColumnKind
from retrain_platform.drift.methods import get_method
from retrain_platform.drift.options import ColumnOverride


@dataclass(frozen=True)
class ColumnDrift:
    """Drift verdict for one column.

    A column that could not be tested (missing from the current partition, or no
    non-missing values on one side) has ``method``, ``score`` and ``threshold`` set to
    ``None``, ``drifted=False`` and a ``note`` saying why. ``score`` is ``NaN`` when the
    method itself is undefined for the data (e.g. chi-square over a single category),
    which evidently also reports as no drift.
    """

    column: str
    kind: ColumnKind
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    note: str | None = None

    @property
    def tested(self) -> bool:
        """Whether a drift method was run on this column."""
        return self.method is not None


@dataclass(frozen=True)
class DriftResult:
    """Drift verdicts for a current partition against a reference sketch.

    Shares are taken over *tested* columns; untested columns are listed in
    ``columns`` with a note but neither drift nor dilute the share. When every column
    is tested this is exactly evidently's ``DriftedColumnsCount`` and its dataset test
    (dataset drift when ``drifted_share >= drift_share``).
    """

    columns: list[ColumnDrift]
    drift_share: float
    """Threshold: the dataset drifts when at least this share of tested columns drifts."""
    n_current: int
    """Rows in the current partition."""
    n_reference: int
    """Rows in the reference window the sketch was built from."""
    _by_name: dict[str, ColumnDrift] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.column: c for c in self.columns})

    def column(self, name: str) -> ColumnDrift:
        """The verdict for one column.

        Raises:
            KeyError: if the column was not part of the check.
        """
        return self._by_name[name]

    @property
    def tested_count(self) -> int:
        """Number of columns a method was run on."""
        return sum(c.tested for c in self.columns)

    @property
    def drifted_count(self) -> int:
        """Number of drifted columns."""
        return sum(c.drifted for c in self.columns)

    @property
    def drifted_share(self) -> float:
        """Drifted columns / tested columns (0.0 when nothing could be tested)."""
        tested = self.tested_count
        return self.drifted_count / tested if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        """``drifted_share >= drift_share`` (evidently's ``>=``); False when nothing was tested."""
        return self.tested_count > 0 and self.drifted_share >= self.drift_share

    def as_overrides(self, given: Mapping[str, ColumnOverride] | None = None) -> dict[str, ColumnOverride]:
        """The method and threshold each tested column was checked with, as overrides that repeat this check.

        Given to :func:`~retrain_platform.drift.write_drift_report`, they make the evidently page apply the
        check's tests (calibrated thresholds included) instead of evidently's defaults for the rows it sees,
        which can differ: evidently picks a column's default method by its reference row count, and the page's
        reference is a sample. A column whose method an override may not name (evidently's default rule tests a
        discrete numerical column with chi-square or z) and an untested column keep ``given``'s override, if any.
        """
        pinned = dict(given or {})
        for c in self.columns:
            if c.tested and c.kind in get_method(c.method).kinds:
                pinned[c.column] = ColumnOverride(method=c.method, threshold=c.threshold)
        return pinned

    def to_metadata(self) -> dict[str, Any]:
        """A small JSON-able summary (NaN scores become ``None``) for asset metadata."""
        columns: dict[str, dict[str, Any]] = {}
        for c in self.columns:
            entry: dict[str, Any] = {
                "method": c.method,
                "score": None if c.score is None or math.isnan(c.score) else c.score,
                "threshold": c.threshold,
                "drifted": c.drifted,
            }
            if c.note:
                entry["note"] = c.note
            columns[c.column] = entry
        return {
            "dataset_drift": self.dataset_drift,
            "drifted_count": self.drifted_count,
            "drifted_share": self.drifted_share,
            "drift_share": self.drift_share,
            "tested_count": self.tested_count,
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "columns": columns,
        }
