"""User-facing drift options: per-column overrides and the dataset drift share, validated."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from retrain_platform.drift.columns import ColumnKind
from retrain_platform.drift.methods import DriftMethod, get_method

DEFAULT_DRIFT_SHARE = 0.5
"""evidently's ``DataDriftPreset(drift_share=0.5)``: the dataset drifts when at least half the columns do."""


@dataclass(frozen=True)
class ColumnOverride:
    """Per-column choice of drift method and/or threshold (from the model spec).

    Either field may be left ``None`` to keep evidently's default for the column: an
    override with only a ``threshold`` applies it to the default method, like
    ``DataDriftPreset(per_column_threshold=...)``.

    Raises:
        ValueError: for an unknown method (the message lists the valid ones) or a
            threshold that is not a finite number >= 0.
    """

    method: str | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.method is not None:
            get_method(self.method)
        if self.threshold is not None:
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
                raise ValueError(f"threshold must be a number; got {self.threshold!r}")
            if not math.isfinite(self.threshold) or self.threshold < 0:
                raise ValueError(f"threshold must be a finite number >= 0; got {self.threshold!r}")


def check_threshold_for(method: DriftMethod, threshold: float, column: str) -> None:
    """Reject a threshold that cannot be meant for ``method`` (a p-value above 1).

    Raises:
        ValueError: naming the column and the valid range.
    """
    if method.is_p_value and threshold > 1:
        raise ValueError(
            f"column {column!r}: method {method.name!r} returns a p-value, so its threshold must be "
            f"between 0 and 1; got {threshold!r}"
        )


def validate_overrides(
    overrides: Mapping[str, ColumnOverride] | None, column_kinds: Mapping[str, ColumnKind]
) -> dict[str, ColumnOverride]:
    """Check overrides against the sketched columns and return them as a plain dict.

    Raises:
        ValueError: for an override of an unknown column, a value that is not a
            :class:`ColumnOverride`, a method that does not accept the column's kind
            (as in evidently: ``ks``/``wasserstein`` numerical only, ``chisquare``/``z``
            categorical only), or a p-value threshold above 1.
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ValueError("overrides must be a mapping {column: ColumnOverride(...)}")
    checked: dict[str, ColumnOverride] = {}
    for column, override in overrides.items():
        if column not in column_kinds:
            raise ValueError(
                f"override given for column {column!r}, which is not in the reference sketch; "
                f"sketched columns: {', '.join(map(repr, column_kinds))}"
            )
        if not isinstance(override, ColumnOverride):
            raise ValueError(
                f"override for column {column!r} must be a ColumnOverride(method=..., threshold=...); got {override!r}"
            )
        kind = column_kinds[column]
        if override.method is not None:
            method = get_method(override.method)
            if kind not in method.kinds:
                raise ValueError(
                    f"column {column!r} is {kind}, but method {method.name!r} only accepts "
                    f"{' or '.join(method.kinds)} columns"
                )
            if override.threshold is not None:
                check_threshold_for(method, override.threshold, column)
        checked[column] = override
    return checked


def validate_drift_share(drift_share: float) -> float:
    """Check the dataset drift share (fraction of drifted columns that means dataset drift).

    Raises:
        ValueError: unless ``0 < drift_share <= 1``.
    """
    if isinstance(drift_share, bool) or not isinstance(drift_share, (int, float)):
        raise ValueError(f"drift_share must be a number in (0, 1]; got {drift_share!r}")
    if not 0 < drift_share <= 1:
        raise ValueError(
            f"drift_share must be in (0, 1] (e.g. 0.5: drift when half the columns drift); got {drift_share!r}"
        )
    return float(drift_share)
