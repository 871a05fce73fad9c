"""``drift_report`` and ``champion_performance``: how each new partition looks to the current champion.

Both are daily-partitioned and read only valid features. Their checks are warnings, not blocking: a drifted or
badly scored partition is still good data; the failures are *signals* that automation turns into retrains.
Before the first promotion there is no champion, so both record that and pass.
"""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from retrain_platform.check_history import CHAMPION_VERSION, FAILING_SINCE, earlier_results, last_training_window_end
from retrain_platform.check_specs import daily_check
from retrain_platform.drift import detect_drift
from retrain_platform.keys import ModelKeys
from retrain_platform.monitoring.signals import (
    drift_signal,
    episode_start,
    performance_signal,
    performance_window,
)
from retrain_platform.promotion.metrics import METRICS, metric_for, predict_for
from retrain_platform.registry import WINDOW_END_TAG, ModelRegistry, holdout_score
from retrain_platform.registry.reference import load_reference
from retrain_platform.settings import drift_report_url, serve_url, service_retry_policy
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

_DRIFT_TABLE = TableSchema(
    columns=[
        TableColumn("column", "string"),
        TableColumn("method", "string"),
        TableColumn("score", "float"),
        TableColumn("threshold", "float"),
        TableColumn("drifted", "bool"),
    ]
)


def _no_champion(check_names: list[str]) -> MaterializeResult:
    return MaterializeResult(
        metadata={"champion_version": "none"},
        check_results=[
            AssetCheckResult(check_name=name, passed=True, description="no champion yet; nothing to compare")
            for name in check_names
        ],
    )


def build_monitoring_assets(
    spec: ModelSpec, partitions_def: PartitionsDefinition, automation_condition: AutomationCondition | None = None
) -> list[AssetsDefinition]:
    """The ``drift_report`` and ``champion_performance`` assets of one model."""
    keys = ModelKeys(spec.name)
    # Read when the definitions load, so a malformed RETRAIN_SERVE_URL fails loudly there, not in a drift step.
    reports_url = serve_url()

    @asset(
        key=keys.drift_report,
        deps=[keys.features],
        partitions_def=partitions_def,
        group_name=spec.name,
        kinds={"evidently"},
        automation_condition=automation_condition,
        retry_policy=service_retry_policy(),
        check_specs=[
            daily_check(
                keys.drift_check,
                partitions_def,
                f"Warns when at least {spec.drift.share_threshold:.0%} of feature columns drifted "
                "from the champion's training window (per-column thresholds calibrated on that window's "
                "day-to-day variation); stays failing until the share falls below "
                f"{spec.drift.share_threshold * spec.drift.clear_ratio:.0%}.",
            )
        ],
        description="Per-column drift of the partition against the champion's training window (same methods and "
        "thresholds as evidently's DataDriftPreset), with a sampled evidently HTML report built with the check's "
        "share and per-column thresholds: `report` links it as `retrain serve` answers it (RETRAIN_SERVE_URL), "
        "`report_file` is the file relative to the lake root.",
    )
    def drift_report(context: AssetExecutionContext, lake: Lake, registry: ModelRegistry) -> MaterializeResult:
        """Compare the partition with the champion's reference sketch; link the evidently report."""
        partition = context.partition_key
        champion = registry.champion(spec.name)
        if champion is None:
            return _no_champion([keys.drift_check.name])
        reference = load_reference(lake, registry, spec, champion)
        sketch = reference.sketch
        current = lake.read_features(spec.name, [partition])[list(spec.features)]
        overrides = reference.overrides(spec)
        result = detect_drift(current, sketch, drift_share=spec.drift.share_threshold, overrides=overrides)
        previous = next(iter(earlier_results(context.instance, keys.drift_check, partition, limit=1)), None)
        signal = drift_signal(
            result.drifted_share,
            partition=partition,
            champion_version=champion.version,
            share_threshold=spec.drift.share_threshold,
            clear_ratio=spec.drift.clear_ratio,
            previous=previous,
        )
        metadata = {
            "champion_version": champion.version,
            "drifted_share": float(result.drifted_share),
            "drifted_columns": int(result.drifted_count),
            "dataset_drift": bool(result.dataset_drift),
            "thresholds": "calibrated" if reference.calibration and reference.calibration.columns else "default",
            "columns": MetadataValue.table(
                records=[
                    TableRecord(
                        {
                            "column": c.column,
                            "method": c.method,
                            "score": None if c.score is None else float(c.score),
                            "threshold": None if c.threshold is None else float(c.threshold),
                            "drifted": bool(c.drifted),
                        }
                    )
                    for c in result.columns
                ],
                schema=_DRIFT_TABLE,
            ),
        }
        report = spec.drift.report
        if report.when == "always" or (report.when == "on_drift" and result.dataset_drift):
            # Imported here: evidently takes about 5 s to import, which every run worker, the code server and the
            # CLI would otherwise pay at start-up whether or not a report is written.
            from retrain_platform.drift import write_drift_report

            # The check's share and the very methods and thresholds it applied (calibrated ones included), so the
            # page's verdicts differ from the recorded ones only by its sampling, which the page states.
            with lake.writing_report(spec.name, partition) as path:
                sampling = write_drift_report(
                    current,
                    sketch,
                    path,
                    sample_rows=report.sample_rows,
                    seed=report.seed,
                    drift_share=spec.drift.share_threshold,
                    overrides=result.as_overrides(overrides),
                )
            # Browsers refuse file:// links from an http page: the link is retrain serve's, the file stays findable.
            metadata["report"] = MetadataValue.url(drift_report_url(spec.name, partition, reports_url))
            metadata["report_file"] = MetadataValue.path(lake.report_file(spec.name, partition))
            metadata["report_sampling"] = sampling
        drifted = [c.column for c in result.columns if c.drifted]
        check = AssetCheckResult(
            check_name=keys.drift_check.name,
            passed=not signal.failing,
            severity=AssetCheckSeverity.WARN,
            description=signal.detail
            + (f": {', '.join(drifted)}" if drifted else "")
            + f" (champion v{champion.version}"
            + (f", failing since {signal.failing_since})" if signal.failing_since else ")"),
            metadata={
                "drifted_share": float(result.drifted_share),
                "partition": partition,
                CHAMPION_VERSION: champion.version,
                FAILING_SINCE: signal.failing_since or "",
            },
        )
        return MaterializeResult(metadata=metadata, check_results=[check])

    metric = METRICS[spec.metric.name]
    performance_checks = [
        daily_check(
            keys.performance_check,
            partitions_def,
            f"Warns when the champion's mean {metric.name} over its last "
            f"{spec.triggers.performance_window_days} partition(s) is worse than the floor "
            f"({spec.triggers.performance_floor}) or has declined from its holdout score by more than "
            f"{spec.triggers.performance_drop} and beyond day-to-day noise.",
        ),
        daily_check(
            keys.age_check,
            partitions_def,
            "Warns when the day after this partition would be more than max_model_age_days past the end of "
            "the champion's training window (model age in data time, so replays and backfills see it too) and "
            "no candidate was trained in the last max_model_age_days: with 7, no champion serves an eighth day.",
        ),
    ]

    @asset(
        key=keys.champion_performance,
        deps=[keys.features],
        partitions_def=partitions_def,
        group_name=spec.name,
        kinds={"sklearn"},
        automation_condition=automation_condition,
        retry_policy=service_retry_policy(),
        check_specs=performance_checks,
        description=f"The champion's {metric.name} on the newly labelled partition.",
    )
    def champion_performance(context: AssetExecutionContext, lake: Lake, registry: ModelRegistry) -> MaterializeResult:
        """Score the champion on the partition's labels; check the floor and the champion's age."""
        partition = context.partition_key
        champion = registry.champion(spec.name)
        if champion is None:
            return _no_champion([c.name for c in performance_checks])
        frame = lake.read_features(spec.name, [partition])
        model = registry.load(champion)
        y_true = frame[spec.target.name].to_numpy()
        try:
            scorer = metric_for(spec, model, y=y_true)  # the champion's classes and this day's, in one order
            value = scorer.score(y_true, predict_for(scorer, model, model_input(frame, spec)))
        except ValueError as err:  # e.g. roc_auc on a single-class partition: undefined, not a failure
            context.log.warning(f"{metric.name} undefined on partition {partition}: {err}")
            value = float("nan")
        triggers = spec.triggers
        earlier = earlier_results(
            context.instance, keys.performance_check, partition, limit=max(triggers.performance_window_days - 1, 1)
        )
        window = performance_window(metric, value, champion.version, earlier, triggers.performance_window_days)
        performance = performance_signal(
            metric,
            window,
            partition=partition,
            champion_version=champion.version,
            floor=triggers.performance_floor,
            drop=triggers.performance_drop,
            holdout_score=holdout_score(champion.tags),
            previous=next(iter(earlier), None),
        )
        window_end = champion.tags.get(WINDOW_END_TAG)
        age_days = _days_between(window_end, partition) if window_end else 0
        max_age = triggers.max_model_age_days
        trained_through = last_training_window_end(context.instance, keys.candidate_model)
        tried = None if trained_through is None else _days_between(trained_through, partition)
        # The champion scored this partition after the fact; the next day is served by whatever is champion once
        # this one is handled, so a retrain is due when that next day would be more than max_age past the window
        # (with max_age 7 no model serves an eighth day, as with a weekly refit).
        # A stale champion whose retrain was just rejected is tried again max_age days after that training,
        # not every day (the check is "a retrain is due by age"), and not never (one endless failure episode).
        too_old = max_age is not None and age_days + 1 > max_age and (tried is None or tried + 1 > max_age)
        age_previous = next(iter(earlier_results(context.instance, keys.age_check, partition, limit=1)), None)
        return MaterializeResult(
            metadata={
                "champion_version": champion.version,
                metric.name: value,
                f"window_mean_{metric.name}": window.mean,
                "rows": len(frame),
                "champion_age_days": age_days,
            },
            check_results=[
                AssetCheckResult(
                    check_name=keys.performance_check.name,
                    passed=not performance.failing,
                    severity=AssetCheckSeverity.WARN,
                    description=f"champion v{champion.version} {metric.name} {value:.4f} today, "
                    + performance.detail
                    + (
                        ""
                        if triggers.performance_floor is not None or triggers.performance_drop is not None
                        else " (no performance trigger configured)"
                    ),
                    metadata={
                        metric.name: value,
                        "window_mean": window.mean,
                        "window_days": len(window.scores),
                        "partition": partition,
                        CHAMPION_VERSION: champion.version,
                        FAILING_SINCE: performance.failing_since or "",
                    },
                ),
                AssetCheckResult(
                    check_name=keys.age_check.name,
                    passed=not too_old,
                    severity=AssetCheckSeverity.WARN,
                    description=f"champion v{champion.version} trained on data up to {window_end}, "
                    f"{age_days} day(s) before this partition"
                    + (f" (max {max_age:g})" if max_age is not None else " (no max_model_age_days configured)")
                    + (
                        f"; a candidate was trained {tried} day(s) ago, so the next attempt is due after {max_age:g}"
                        if max_age is not None and age_days + 1 > max_age and not too_old
                        else ""
                    ),
                    metadata={
                        "age_days": age_days,
                        "days_since_training": -1 if tried is None else tried,
                        CHAMPION_VERSION: champion.version,
                        FAILING_SINCE: episode_start(too_old, partition, age_previous, champion.version) or "",
                    },
                ),
            ],
        )

    return [drift_report, champion_performance]


def _days_between(earlier: str, later: str) -> int:
    """Days from partition ``earlier`` to partition ``later``."""
    return (dt.date.fromisoformat(later) - dt.date.fromisoformat(earlier)).days
