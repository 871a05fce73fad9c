"""``live_performance``: the champion's metric on live traffic, once its delayed labels have come back.

A partition is a UTC day of the prediction log (``retrain serve`` writes it). Its run joins that day's logged
predictions with every label file that landed in the spec's ``feedback.path`` during the following
``label_delay_days`` (by request id and row, or by a key column; a later label replaces an earlier one), scores
the answers the service actually gave with the spec's primary metric, and checks:

- ``live_performance``: the live metric judged like the landed data's (``triggers.performance_floor`` and
  ``performance_drop``, over a window of scored days, against the served version's own holdout score); a day with
  fewer than ``feedback.min_labels`` labelled predictions passes as "waiting for labels". Its failure is a retrain
  trigger (:mod:`retrain_platform.feedback.sensor`).
- ``prediction_drift``: the Kolmogorov-Smirnov distance between the day's answers and the served version's
  answers on its own holdout (the "model drift" of the seeds); no labels needed.

When ``retrain serve --shadow`` scored a waiting challenger beside the champion, the challenger's live metric on
the labelled rows it answered is reported next to the champion's on the same rows (``shadow_<metric>``).

A label file that cannot be used (no key or target column) is skipped and named in the checks and metadata; the
file itself is left where it landed.
"""

import math
from collections import Counter

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)
from scipy.stats import ks_2samp

from retrain_platform.check_history import (
    CHAMPION_VERSION,
    FAILING_SINCE,
    SHADOW_LABELLED,
    SHADOW_VERSION,
    champion_on_shadow_rows_key,
    earlier_results,
    shadow_metric_key,
)
from retrain_platform.check_specs import daily_check
from retrain_platform.keys import ModelKeys
from retrain_platform.monitoring.assets import holdout_score
from retrain_platform.monitoring.signals import episode_start, performance_signal, performance_window
from retrain_platform.promotion.metrics import METRICS, metric_for
from retrain_platform.registry import ModelRegistry
from retrain_platform.serving.loaded import prepare
from retrain_platform.settings import service_retry_policy
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

REQUEST_ID, ROW = "request_id", "row"
# Fewer live answers than this say nothing about their distribution.
MIN_DRIFT_ROWS = 30


def prediction_keys(spec: ModelSpec) -> list[str]:
    """The prediction-log columns a label is matched on."""
    return ["_request_id", "_row"] if spec.feedback.key == REQUEST_ID else [spec.feedback.key]


def labels_for(lake: Lake, spec: ModelSpec, day: str) -> tuple[pd.DataFrame, list[str]]:
    """The labels that may belong to ``day``'s predictions (keyed like the log), and the files that were skipped."""
    last = (pd.Timestamp(day) + pd.Timedelta(days=spec.feedback.label_delay_days)).date().isoformat()
    frames, skipped = [], []
    target, key = spec.target.name, spec.feedback.key
    for arrived, path in lake.label_files(spec).items():
        if not day <= arrived <= last:
            continue
        try:
            frame = lake.read_labels(spec, path)
        except Exception as err:  # a malformed file is reported, never fatal for the other files
            skipped.append(f"{path.name}: unreadable ({type(err).__name__}: {err})")
            continue
        missing = [c for c in ((REQUEST_ID if key == REQUEST_ID else key), target) if c not in frame.columns]
        if missing:
            skipped.append(f"{path.name}: no column(s) {missing}; a label file holds {key} and {target}")
            continue
        if key == REQUEST_ID:
            rows = frame[ROW] if ROW in frame.columns else 0
            frame = pd.DataFrame({"_request_id": frame[REQUEST_ID].astype(str), "_row": rows, target: frame[target]})
            frame["_row"] = pd.to_numeric(frame["_row"], errors="coerce").fillna(-1).astype("int64")
        else:
            frame = pd.DataFrame({key: frame[key].astype(str), target: frame[target]})
        frames.append(frame.assign(_arrived=arrived))
    if not frames:
        return pd.DataFrame(columns=[*prediction_keys(spec), target]), skipped
    labels = pd.concat(frames, ignore_index=True).sort_values("_arrived", kind="stable")
    return labels.drop_duplicates(prediction_keys(spec), keep="last").drop(columns="_arrived"), skipped


def _answers(frame: pd.DataFrame, labels: tuple | None, prefix: str = "_prediction") -> np.ndarray:
    """The logged answers: 1-D (binary, regression) or one column per label in ``labels`` order (0 if absent)."""
    if prefix in frame.columns:
        return frame[prefix].to_numpy(dtype="float64")
    columns = [f"{prefix}_{label}" for label in labels]
    empty = np.zeros(len(frame))
    return np.column_stack([frame[c].to_numpy(dtype="float64") if c in frame else empty for c in columns])


def live_score(spec: ModelSpec, joined: pd.DataFrame, prefix: str = "_prediction") -> float:
    """The primary metric of the logged answers (``prefix``: the champion's, or ``_shadow_prediction``) against
    their labels (NaN when it is undefined on them)."""
    y_true = joined[spec.target.name].to_numpy()
    scorer = metric_for(spec, y=y_true)
    answers = _answers(joined, scorer.labels, prefix)
    if scorer.task == "classification" and not scorer.uses_proba:
        labels = scorer.labels
        answers = (
            np.where(answers >= 0.5, labels[-1], labels[0])
            if answers.ndim == 1
            else np.asarray(labels)[answers.argmax(axis=1)]
        )
    try:
        return float(scorer.score(y_true, answers))
    except ValueError:  # e.g. roc_auc on labels of one class only
        return float("nan")


def _drift(live: np.ndarray, reference: np.ndarray) -> float:
    """The largest Kolmogorov-Smirnov distance between live and reference answers (per class column)."""
    if live.ndim == 1:
        return float(ks_2samp(live, reference).statistic)
    return max(float(ks_2samp(live[:, j], reference[:, j]).statistic) for j in range(live.shape[1]))


def shadow_comparison(spec: ModelSpec, joined: pd.DataFrame) -> dict:
    """The shadowed challenger's live metric next to the champion's on the same labelled rows (empty without one)."""
    if "_shadow_version" not in joined.columns or not joined["_shadow_version"].notna().any():
        return {}
    name = METRICS[spec.metric.name].name
    version = Counter(joined["_shadow_version"].dropna().astype(str)).most_common(1)[0][0]
    rows = joined[joined["_shadow_version"].astype(str) == version]
    return {
        SHADOW_VERSION: version,
        SHADOW_LABELLED: len(rows),
        shadow_metric_key(name): live_score(spec, rows, "_shadow_prediction"),
        champion_on_shadow_rows_key(name): live_score(spec, rows),
    }


def build_live_performance_asset(spec: ModelSpec, partitions_def: PartitionsDefinition) -> AssetsDefinition:
    """The ``live_performance`` asset of a model with a ``feedback`` section, and its two checks."""
    keys = ModelKeys(spec.name)
    metric = METRICS[spec.metric.name]
    feedback = spec.feedback
    checks = [
        daily_check(
            keys.live_performance_check,
            partitions_def,
            f"Warns when the champion's live {metric.name}, on predictions whose labels came back, breaks the "
            "spec's performance triggers; a retrain trigger.",
        ),
        daily_check(
            keys.prediction_drift_check,
            partitions_def,
            "Warns when the day's live answers are distributed unlike the served version's answers on its holdout "
            f"(Kolmogorov-Smirnov distance of {feedback.prediction_drift_threshold} or more).",
        ),
    ]

    @asset(
        key=keys.live_performance,
        partitions_def=partitions_def,
        group_name=spec.name,
        kinds={"sklearn"},
        retry_policy=service_retry_policy(),
        check_specs=checks,
        description=f"The champion's {metric.name} on live traffic per prediction day, from labels landing in "
        f"{feedback.path} up to {feedback.label_delay_days} day(s) later.",
    )
    def live_performance(context: AssetExecutionContext, lake: Lake, registry: ModelRegistry) -> MaterializeResult:
        """Join the day's prediction log with its labels, score it, and compare its answers with the holdout's."""
        day = context.partition_key
        predictions = lake.read_predictions(spec.name, day)
        if predictions.empty:
            return _nothing_logged(keys, day)
        version = Counter(predictions["_version"].astype(str)).most_common(1)[0][0]
        info = registry.version(spec.name, version)
        labels, skipped = labels_for(lake, spec, day)
        logged = predictions.copy()
        on = prediction_keys(spec)
        for column in on:
            logged[column] = logged[column].astype("int64") if column == "_row" else logged[column].astype(str)
        joined = logged.drop(columns=[spec.target.name], errors="ignore").merge(labels, on=on, how="inner")
        value = live_score(spec, joined) if len(joined) else float("nan")
        enough = len(joined) >= feedback.min_labels
        earlier = earlier_results(
            context.instance, keys.live_performance_check, day, limit=max(spec.triggers.performance_window_days - 1, 1)
        )
        today = value if enough else float("nan")
        window = performance_window(metric, today, version, earlier, spec.triggers.performance_window_days)
        signal = performance_signal(
            metric,
            window,
            partition=day,
            champion_version=version,
            floor=spec.triggers.performance_floor,
            drop=spec.triggers.performance_drop,
            holdout_score=holdout_score(info.tags),
            previous=next(iter(earlier), None),
        )
        failing = enough and signal.failing
        shadow = shadow_comparison(spec, joined)
        notes = "" if not skipped else f"; skipped label files: {'; '.join(skipped)}"
        if shadow:
            notes = (
                f"; shadow v{shadow['shadow_version']} {metric.name} {shadow[f'shadow_{metric.name}']:.4f} vs the "
                f"champion's {shadow[f'champion_{metric.name}_on_shadow_rows']:.4f} on the same "
                f"{shadow['shadow_labelled']} labelled rows" + notes
            )
        shown = f"{value:.4f}" if math.isfinite(value) else "undefined"
        if not enough:
            performance_text = f"waiting for labels: {len(joined)} of {feedback.min_labels} labelled so far"
        else:
            performance_text = f"v{version} live {metric.name} {shown} on {len(joined)} labelled, " + signal.detail
        # The served version's answers on its own holdout, through the same output contract as the service.
        holdout, _ = lake.read_holdout(spec.name, version)
        served = prepare(spec, info, registry.load(info))
        reference = served.predict(holdout[list(spec.features)])
        live = _answers(predictions, served.labels if served.kind == "multiclass" else None)
        distance = _drift(live, reference) if len(live) >= MIN_DRIFT_ROWS else float("nan")
        drifting = math.isfinite(distance) and distance >= feedback.prediction_drift_threshold
        drift_previous = next(iter(earlier_results(context.instance, keys.prediction_drift_check, day, limit=1)), None)
        return MaterializeResult(
            metadata={
                "champion_version": version,
                "predictions": len(predictions),
                "labelled": len(joined),
                "label_coverage": len(joined) / len(predictions),
                metric.name: value,
                "prediction_drift": distance,
                "skipped_label_files": "; ".join(skipped),
                **shadow,
            },
            check_results=[
                AssetCheckResult(
                    check_name=keys.live_performance_check.name,
                    passed=not failing,
                    severity=AssetCheckSeverity.WARN,
                    description=performance_text + notes,
                    metadata={
                        metric.name: value if enough else float("nan"),
                        "labelled": len(joined),
                        **shadow,
                        CHAMPION_VERSION: version,
                        FAILING_SINCE: (signal.failing_since or "") if failing else "",
                    },
                ),
                AssetCheckResult(
                    check_name=keys.prediction_drift_check.name,
                    passed=not drifting,
                    severity=AssetCheckSeverity.WARN,
                    description=f"KS distance {distance:.3f} between {len(live)} live answers and "
                    f"{len(reference)} holdout answers of v{version} (threshold {feedback.prediction_drift_threshold})"
                    if math.isfinite(distance)
                    else f"only {len(live)} live answers; at least {MIN_DRIFT_ROWS} are compared",
                    metadata={
                        "ks_distance": distance,
                        CHAMPION_VERSION: version,
                        FAILING_SINCE: episode_start(drifting, day, drift_previous, version) or "",
                    },
                ),
            ],
        )

    return live_performance


def _nothing_logged(keys: ModelKeys, day: str) -> MaterializeResult:
    passed = "nothing was logged on this day"
    return MaterializeResult(
        metadata={"predictions": 0},
        check_results=[
            AssetCheckResult(check_name=c.name, passed=True, description=passed, metadata={FAILING_SINCE: ""})
            for c in (keys.live_performance_check, keys.prediction_drift_check)
        ],
    )
