"""evidently's own DataDriftPreset verdicts, as the oracle the agreement tests compare against."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import DataDriftPreset

from retrain_platform.drift.methods import SUPPORTED_METHODS, get_method

# evidently reports the display name of a method; map it back to the registered name.
_NAME_BY_DISPLAY_NAME = {get_method(name).evidently_name: name for name in SUPPORTED_METHODS}


@dataclass(frozen=True)
class EvidentlyColumn:
    """One ValueDrift result."""

    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class EvidentlyVerdict:
    """What DataDriftPreset reports for a partition."""

    columns: dict[str, EvidentlyColumn]
    drifted_count: int
    drifted_share: float
    dataset_drift: bool


def evidently_drift(
    current: pd.DataFrame, reference: pd.DataFrame, column_kinds: Mapping[str, str], **options
) -> EvidentlyVerdict:
    """Run DataDriftPreset (current first, as evidently expects; options as :func:`run_preset`) and read back
    its verdicts."""
    return read_verdict(run_preset(current, reference, column_kinds, **options))


def run_preset(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    column_kinds: Mapping[str, str],
    *,
    drift_share: float = 0.5,
    per_column_method: dict[str, str] | None = None,
    per_column_threshold: dict[str, float] | None = None,
) -> Snapshot:
    """evidently's ``Report([DataDriftPreset(...)], include_tests=True).run(current, reference)``."""
    definition = DataDefinition(
        numerical_columns=[c for c, k in column_kinds.items() if k == "numerical"],
        categorical_columns=[c for c, k in column_kinds.items() if k == "categorical"],
    )
    preset = DataDriftPreset(
        drift_share=drift_share,
        per_column_method=per_column_method,
        per_column_threshold=per_column_threshold,
    )
    with warnings.catch_warnings():
        # evidently's correlation and chart code warns on constant columns; irrelevant to the verdicts.
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report([preset], include_tests=True).run(
            Dataset.from_pandas(current[list(column_kinds)], data_definition=definition),
            Dataset.from_pandas(reference[list(column_kinds)], data_definition=definition),
        )


def read_verdict(snapshot: Snapshot) -> EvidentlyVerdict:
    """Per-column methods, scores and test statuses, and the dataset-level count, share and test status."""
    report = snapshot.dict()
    scores: dict[str, tuple[str, float, float]] = {}
    drifted_count = drifted_share = None
    for metric in report["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = (config["method"], float(metric["value"]), float(config["threshold"]))
        elif config["type"].endswith("DriftedColumnsCount"):
            drifted_count = int(metric["value"]["count"])
            drifted_share = float(metric["value"]["share"])
    statuses: dict[str, bool] = {}
    dataset_drift = None
    for test in report["tests"]:
        failed = test["status"] == "FAIL"
        if test["name"].startswith("Value Drift for column "):
            statuses[test["name"].removeprefix("Value Drift for column ")] = failed
        elif test["name"].startswith("Share of Drifted Columns"):
            dataset_drift = failed
    columns = {
        name: EvidentlyColumn(_NAME_BY_DISPLAY_NAME.get(method, method), score, threshold, statuses[name])
        for name, (method, score, threshold) in scores.items()
    }
    return EvidentlyVerdict(columns, drifted_count, drifted_share, dataset_drift)
