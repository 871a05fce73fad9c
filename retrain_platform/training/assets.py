"""``candidate_model``: a challenger trained on the newest window of valid features and registered in MLflow.

The candidate is validated on the newest ``holdout_fraction`` of its window by a fit on the rest; by default
(``training.refit_on_full_window``) the model registered is then refit on the whole window, so the newest days,
the most like tomorrow's, are never left out of the model that may be promoted.

Only partitions whose features exist are read, and quarantined partitions never have features, so a candidate is
never trained on quarantined data. Everything needed to reproduce or audit it goes to MLflow: parameters, holdout
metric, the partitions and their content hashes, the code version, and the reason it was trained.
"""

import hashlib
import json
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster._core.storage.tags import AUTO_MATERIALIZE_TAG, AUTOMATION_CONDITION_TAG

from retrain_platform.automation.reasons import REQUESTED_REASON_TAG, TRIGGER_TAG, RetrainReason, retrain_reason
from retrain_platform.check_history import last_training_window_end
from retrain_platform.failpoints import failpoint
from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.compute import shared_machine_threads, step_pool, step_tags
from retrain_platform.promotion.metrics import METRICS, metric_for, predict_for
from retrain_platform.registry import FITTED_THROUGH_TAG, PARTITIONS_TAG, WINDOW_END_TAG, ModelRegistry
from retrain_platform.settings import service_retry_policy
from retrain_platform.spec.estimator import model_input
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import PARTITION_COLUMN, Lake, file_sha256
from retrain_platform.training.fit import fit_model
from retrain_platform.training.window import split_holdout, window_partitions

HOLDOUT_ARTIFACT = "holdout"


def _in_progress(context: AssetExecutionContext, run_id: str) -> bool:
    """Whether the Dagster run ``run_id`` is still going (this one is: its MLflow run has not started yet)."""
    if run_id == context.run_id:
        return True
    run = context.instance.get_run_by_id(run_id)
    return run is not None and not run.is_finished


def spec_fingerprint(spec: ModelSpec) -> str:
    """A short hash of the spec, so a version records exactly which configuration trained it."""
    return hashlib.sha256(spec.model_dump_json(by_alias=True).encode()).hexdigest()[:12]


def build_training_asset(spec: ModelSpec, automation_condition: AutomationCondition) -> AssetsDefinition:
    """The ``candidate_model`` asset of one model."""
    keys = ModelKeys(spec.name)
    metric = METRICS[spec.metric.name]

    @asset(
        key=keys.candidate_model,
        deps=[keys.features, keys.drift_report, keys.champion_performance],
        group_name=spec.name,
        kinds={"sklearn", "mlflow"},
        automation_condition=automation_condition,
        retry_policy=service_retry_policy(),
        pool=step_pool(spec, "training"),
        op_tags=step_tags(spec, "training"),
        description=f"A candidate trained on the last {spec.training.window_days} days of valid features, "
        f"registered as a new MLflow version of '{spec.name}'.",
    )
    def candidate_model(context: AssetExecutionContext, lake: Lake, registry: ModelRegistry) -> MaterializeResult:
        """Train on the newest window, score on its temporal holdout, and register the candidate."""
        for run_id in registry.close_abandoned_runs(spec.name, lambda owner: _in_progress(context, owner)):
            context.log.warning(f"MLflow run {run_id} was left running by a killed training; marked KILLED")
        why = _retrain_reason(context, spec)
        reasons = list(why.reasons)
        if "dagster/parent_run_id" in context.run.tags:
            reasons = [f"retry of run {context.run.tags['dagster/parent_run_id']}", *reasons]
        valid = lake.feature_partitions(spec.name)
        partitions = window_partitions(valid, spec.training.window_days)
        # The first model waits for a full enough window; a retrain (after drift, say) must not be held back by a
        # quarantined day or two, so it has its own, lower minimum.
        field, needed = spec.training.partitions_needed(registry.champion(spec.name) is not None)
        if len(partitions) < needed:
            raise Failure(
                description=f"only {len(partitions)} valid partition(s) in the last {spec.training.window_days} "
                f"days; training.{field} is {needed}. Land (or fix quarantined) partitions, or lower "
                f"training.{field}.",
                allow_retries=False,
            )
        frame = lake.read_features(spec.name, partitions)
        if len(frame) < spec.training.min_rows:
            raise Failure(
                description=f"only {len(frame)} valid row(s) in the training window {partitions[0]}..{partitions[-1]}"
                f"; training.min_rows is {spec.training.min_rows}. Land more data or lower training.min_rows.",
                allow_retries=False,
            )
        train, holdout = split_holdout(frame, spec.training)
        try:
            # Labels from the whole window: the refit knows every class in it, and the stored predictions are laid
            # out in that order (the gate re-aligns them if a champion knows more).
            scorer = metric_for(spec, y=frame[spec.target.name].to_numpy())
        except ValueError as err:  # e.g. average: binary on a target that turned out to have three classes
            raise Failure(description=str(err), allow_retries=False) from None
        validation = _validation_rows(lake, spec, valid, partitions, train)
        threads = shared_machine_threads(context.instance)
        estimator = fit_model(spec, validation, threads)
        # The gate judges this validation fit on rows it has not seen; its predictions are kept with the holdout.
        holdout_pred = predict_for(scorer, estimator, model_input(holdout, spec))
        holdout_score = scorer.score(holdout[spec.target.name].to_numpy(), holdout_pred)
        if spec.training.refit_on_full_window:
            # What is registered (and, if the gate agrees, served) also learns from the newest days, which are
            # the most like tomorrow's; the validation fit only stood in for it at the gate.
            estimator = fit_model(spec, frame, threads)
            fitted_through = partitions[-1]
        else:
            fitted_through = str(train[PARTITION_COLUMN].iloc[-1])
        failpoint("training.fitted")
        # The hash each partition's features were built from (recorded in their Parquet footer), not the raw copy's
        # now: if a re-landing's features failed to build, the raw copy is newer than what was trained on. Features
        # from before that record existed fall back to the raw copy.
        hashes = {p: lake.features_raw_sha256(spec.name, p) or file_sha256(lake.raw_path(spec, p)) for p in partitions}
        tags = {
            "reason": "; ".join(reasons)[:5000],
            TRIGGER_TAG: why.tag,
            PARTITIONS_TAG: json.dumps(partitions),
            "training.window_start": partitions[0],
            WINDOW_END_TAG: partitions[-1],
            FITTED_THROUGH_TAG: fitted_through,
            "spec.fingerprint": spec_fingerprint(spec),
            "code.version": package_version("retrain_platform"),
            "dagster.run_id": context.run_id,
        }
        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp)
            (files / "partitions.json").write_text(json.dumps(hashes, indent=2))
            (files / "spec.json").write_text(spec.model_dump_json(by_alias=True, indent=2))
            info = registry.log_candidate(
                spec,
                estimator,
                params={
                    "estimator": spec.model.estimator.class_,
                    **spec.model.estimator.params,
                    "window_days": spec.training.window_days,
                },
                metrics={
                    f"holdout_{metric.name}": holdout_score,
                    "train_rows": len(train),
                    "holdout_rows": len(holdout),
                },
                tags=tags,
                artifacts={"training": files},
                example=train,
            )
        lake.write_holdout(spec.name, info.version, holdout, holdout_pred)
        context.log.info(f"registered {spec.name} v{info.version}: holdout {metric.name} {holdout_score:.4f}")
        return MaterializeResult(
            metadata={
                "version": info.version,
                "reason": "; ".join(reasons),
                "trigger": why.tag,
                "window_start": partitions[0],
                "window_end": partitions[-1],
                "partitions": len(partitions),
                "train_rows": len(train),
                "holdout_rows": len(holdout),
                "validation_rows": len(validation),
                "validation_window_start": str(validation[PARTITION_COLUMN].min()) if len(validation) else "",
                "refit_on_full_window": spec.training.refit_on_full_window,
                f"holdout_{metric.name}": holdout_score,
                "mlflow_run_id": info.run_id,
                "model_uri": MetadataValue.text(info.uri),
            }
        )

    return candidate_model


def _retrain_reason(context: AssetExecutionContext, spec: ModelSpec) -> RetrainReason:
    """The trigger that started this run, also set as the run's ``retrain/trigger`` tag (filterable in the UI)."""
    answered_through = last_training_window_end(context.instance, ModelKeys(spec.name).candidate_model)
    automated = any(tag in context.run.tags for tag in (AUTOMATION_CONDITION_TAG, AUTO_MATERIALIZE_TAG))
    tags = context.run.tags
    requested = (tags[TRIGGER_TAG], tags[REQUESTED_REASON_TAG]) if REQUESTED_REASON_TAG in tags else None
    why = retrain_reason(context.instance, spec, answered_through, automated=automated, requested=requested)
    context.instance.add_run_tags(context.run_id, {TRIGGER_TAG: why.tag})
    return why


def _validation_rows(lake: Lake, spec: ModelSpec, valid: list[str], window: list[str], train: pd.DataFrame):
    """What the validation fit learns from: the window's rows before the holdout, plus, when the registered
    model is refit on the whole window, the older days that give the validation fit a window of the same length.

    The gate compares this fit with a champion that learned from a full window. A fit on only the older 80 % of
    one would lose mostly for having less data, and the gate would keep stale champions for it (measured on the
    backtests: most "measurably worse" candidates); a window of equal length, ending where the holdout begins,
    makes the comparison about freshness and the data, which is what the refit changes.
    """
    if not spec.training.refit_on_full_window or train.empty:
        return train
    last = str(train[PARTITION_COLUMN].iloc[-1])
    older = [p for p in window_partitions([p for p in valid if p <= last], spec.training.window_days) if p < window[0]]
    if not older:
        return train
    return pd.concat([lake.read_features(spec.name, older), train], ignore_index=True)
