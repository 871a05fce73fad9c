"""Drift thresholds calibrated on the reference window's own day-to-day variation.

evidently's default thresholds (p < 0.05, distance >= 0.1) assume the reference is one stationary sample. Real
training windows are not: on seasonal data with thousands of rows a day, most columns of an *ordinary* day
"drift" against a 30-day window, so the drift check fails every day and means nothing.

Calibration measures what an ordinary day looks like: each day of the reference window is checked against the
rest of the window (leave one day out), with the same method the live check uses, and each column's threshold
becomes the score that only ``false_alarm_rate`` of those ordinary days reach. A threshold is only ever
*loosened* from evidently's default, never tightened, so a column that is stable day to day keeps evidently's
sensitivity, and a column that swings every day needs a swing bigger than its usual one to count as drift.

Days are subsampled to at most ``max_rows_per_day`` rows for the calibration only (the live check sees every
row). The cap is above evidently's 1,000-row switch between p-value tests and distances, so the calibration picks
the same method family as the live check, and the method it calibrated is pinned in the result, so the live check
never applies a threshold to a different method.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from retrain_platform.drift.detect import detect_drift
from retrain_platform.drift.methods import get_method
from retrain_platform.drift.options import ColumnOverride
from retrain_platform.drift.sketch import ReferenceSketch, replace_atomically

CALIBRATION_FILE = "calibration.json"
FORMAT = "retrain_platform.drift.calibration"
FORMAT_VERSION = 1
# Fewer ordinary days than this cannot estimate a tail quantile; the defaults are kept and the reason recorded.
MIN_CALIBRATION_DAYS = 5
DEFAULT_MAX_ROWS_PER_DAY = 5_000


@dataclass(frozen=True)
class CalibratedColumn:
    """One column's calibrated test: the method, its threshold, and what the threshold came from."""

    method: str
    threshold: float
    default_threshold: float
    days: int
    """Ordinary days whose scores set the threshold."""


@dataclass(frozen=True)
class DriftCalibration:
    """Per-column thresholds calibrated at ``false_alarm_rate`` (empty ``columns``: defaults kept, see ``note``)."""

    false_alarm_rate: float
    columns: dict[str, CalibratedColumn]
    note: str = ""

    def overrides(self, explicit: Mapping[str, ColumnOverride] | None = None) -> dict[str, ColumnOverride]:
        """Overrides for :func:`detect_drift`: the calibrated ones, with the spec's explicit thresholds winning.

        A column the spec gives a threshold keeps the spec's method and threshold untouched: a threshold someone
        wrote down is a decision, not a default to calibrate.
        """
        merged = {name: ColumnOverride(method=c.method, threshold=c.threshold) for name, c in self.columns.items()}
        for name, override in (explicit or {}).items():
            if override.threshold is not None or name not in merged:
                merged[name] = override
        return merged

    def save(self, directory: Path | str) -> None:
        """Write ``calibration.json`` into ``directory`` (beside the reference sketch it belongs to)."""
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "false_alarm_rate": self.false_alarm_rate,
            "note": self.note,
            "columns": {name: asdict(c) for name, c in self.columns.items()},
        }
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        encoded = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False).encode()
        replace_atomically(directory / CALIBRATION_FILE, lambda f: f.write(encoded))

    @classmethod
    def load(cls, directory: Path | str) -> DriftCalibration | None:
        """The calibration saved in ``directory``, or None when there is none (a reference from before it)."""
        path = Path(directory) / CALIBRATION_FILE
        if not path.is_file():
            return None
        payload = json.loads(path.read_text())
        if payload.get("format") != FORMAT or payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a drift calibration this version can read; delete it to rebuild")
        columns = {name: CalibratedColumn(**c) for name, c in payload["columns"].items()}
        return cls(float(payload["false_alarm_rate"]), columns, payload.get("note", ""))


def calibrate_thresholds(
    frame: pd.DataFrame,
    *,
    day_column: str,
    column_kinds: Mapping[str, str],
    false_alarm_rate: float,
    overrides: Mapping[str, ColumnOverride] | None = None,
    max_rows_per_day: int = DEFAULT_MAX_ROWS_PER_DAY,
    seed: int = 0,
) -> DriftCalibration:
    """Calibrate every column's drift threshold on the days of ``frame`` (see the module docstring).

    Args:
        frame: the reference window, one row per example, with the day of each row in ``day_column``.
        day_column: the column that says which day a row belongs to.
        column_kinds: ``{column: "numerical" | "categorical"}`` as for :meth:`ReferenceSketch.from_frame`.
        false_alarm_rate: the share of ordinary days allowed to drift per column, in (0, 0.5].
        overrides: the spec's per-column overrides; a column with an explicit threshold is not calibrated, a
            column with only a method is calibrated for that method.
        max_rows_per_day: rows of a day used for calibration (a uniform sample, reproducible with ``seed``).
        seed: seed of that sample.

    Raises:
        ValueError: for a rate outside (0, 0.5], a missing ``day_column`` or a cap below 1,001 rows.
    """
    if not (isinstance(false_alarm_rate, (int, float)) and 0 < false_alarm_rate <= 0.5):
        raise ValueError(f"false_alarm_rate must be in (0, 0.5]; got {false_alarm_rate!r}")
    if day_column not in frame.columns:
        raise ValueError(f"day_column {day_column!r} is not a column of the frame ({list(frame.columns)})")
    if max_rows_per_day <= 1000:
        # At or below evidently's 1,000-row switch the calibration could pick another method than the live check.
        raise ValueError(f"max_rows_per_day must be above 1000; got {max_rows_per_day!r}")
    days = sorted(frame[day_column].unique())
    if len(days) < MIN_CALIBRATION_DAYS:
        return DriftCalibration(
            false_alarm_rate, {}, f"{len(days)} day(s) in the reference; calibration needs {MIN_CALIBRATION_DAYS}"
        )
    explicit = {name for name, o in (overrides or {}).items() if o.threshold is not None}
    kinds = {name: kind for name, kind in column_kinds.items() if name not in explicit}
    if not kinds:
        return DriftCalibration(false_alarm_rate, {}, "every column has an explicit threshold")
    sample = _cap_rows_per_day(frame[[*kinds, day_column]], day_column, max_rows_per_day, seed)
    scores = _leave_one_day_out_scores(sample, day_column, kinds, overrides or {})
    columns = {}
    for name, by_method in scores.items():
        # The method the ordinary days used most is the one the live check will use; pin it.
        method_name, values = max(by_method.items(), key=lambda item: len(item[1]))
        method = get_method(method_name)
        if kinds[name] not in method.kinds:
            # Evidently's default rule tests a discrete numerical column (a weekday, say) with chi-square or z,
            # which an override may not name for a numerical column: such a column keeps the default rule.
            continue
        finite = np.asarray([v for v in values if math.isfinite(v)])
        if len(finite) < MIN_CALIBRATION_DAYS:
            continue
        default = method.default_threshold
        if method.is_p_value:
            threshold = min(default, float(np.quantile(finite, false_alarm_rate)))
        else:
            threshold = max(default, float(np.quantile(finite, 1 - false_alarm_rate)))
        columns[name] = CalibratedColumn(method_name, threshold, default, len(finite))
    return DriftCalibration(false_alarm_rate, columns, f"calibrated on {len(days)} reference day(s)")


def _cap_rows_per_day(frame: pd.DataFrame, day_column: str, cap: int, seed: int) -> pd.DataFrame:
    sizes = frame.groupby(day_column, sort=False)[day_column].transform("size")
    if int(sizes.max()) <= cap:
        return frame
    rng = np.random.default_rng(seed)
    # Keep each row with probability cap/size of its day: about `cap` rows per large day, every row of a small one.
    keep = rng.random(len(frame)) < (cap / sizes.to_numpy())
    return frame[keep]


def _leave_one_day_out_scores(
    frame: pd.DataFrame, day_column: str, kinds: Mapping[str, str], overrides: Mapping[str, ColumnOverride]
) -> dict[str, dict[str, list[float]]]:
    """``{column: {method: [score of each day against the other days]}}``."""
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    method_only = {name: o for name, o in overrides.items() if name in kinds and o.threshold is None}
    day_of_row = frame[day_column].to_numpy()
    features = frame[list(kinds)]
    for day in np.unique(day_of_row):
        mine = day_of_row == day
        if mine.all():
            continue
        rest = ReferenceSketch.from_frame(features[~mine], column_kinds=kinds, sample_rows=1)
        result = detect_drift(features[mine], rest, overrides=method_only)
        for column in result.columns:
            if column.tested:
                scores[column.column][column.method].append(float(column.score))
    return scores
