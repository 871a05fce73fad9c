"""The model spec: everything a user writes to onboard a model, validated by pydantic.

A spec is the only thing a user edits to add a model; the asset graph, the pandera schema, the estimator, the drift
settings and the automation triggers are all derived from it. Unknown fields are rejected (``extra="forbid"``) so a
typo such as ``windw_days`` fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from retrain_platform.spec.compute import ComputeSpec
from retrain_platform.spec.notifications import NotificationsSpec
from retrain_platform.spec.source import SqlSourceSpec

ColumnType = Literal["float", "int", "bool", "category", "string"]
NUMERIC_TYPES = frozenset({"float", "int"})
# What an ``int`` column can hold (pandas' Int64): a larger whole number is "whole" but overflows the coercion.
INT64_RANGE = (-(2**63), 2**63 - 1)
UnknownCategoryPolicy = Literal["quarantine", "map_to_unknown"]
ExcessNullsPolicy = Literal["quarantine", "warn"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One input column: its type and what values are acceptable.

    ``max_null_fraction`` is the null tolerance: the share of a partition's rows that may be null before the
    partition is quarantined (0 means the column must always be present). ``on_excess_nulls: warn`` keeps such a
    partition and reports it instead; ``on_unknown_category: map_to_unknown`` turns a value outside
    ``categories`` into a null (reported) instead of quarantining the partition. Both default to the model-wide
    ``validation`` section (whose own defaults are the strict ``quarantine``).
    """

    type: ColumnType
    min: float | None = None
    max: float | None = None
    categories: list[Any] | None = None
    max_null_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    on_unknown_category: UnknownCategoryPolicy | None = None
    on_excess_nulls: ExcessNullsPolicy | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"min/max only apply to numeric columns (float, int), not {self.type!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); swap them")
        if self.categories is not None and len(self.categories) == 0:
            raise ValueError("categories is empty; list the allowed values or remove the field")
        if self.on_unknown_category is not None and self.categories is None:
            raise ValueError(
                "on_unknown_category only applies to a column with categories; list them or remove the field"
            )
        return self

    @property
    def drift_kind(self) -> Literal["numerical", "categorical"]:
        """How drift detection treats the column: numbers by distribution, the rest by category frequencies."""
        return "numerical" if self.type in NUMERIC_TYPES and self.categories is None else "categorical"


class TargetSpec(ColumnSpec):
    """The label column. It is validated like a feature but may never be null."""

    name: str

    @field_validator("max_null_fraction")
    @classmethod
    def _never_null(cls, value: float) -> float:
        if value != 0.0:
            raise ValueError("the target may not be null; remove max_null_fraction from target")
        return value

    @field_validator("on_unknown_category", "on_excess_nulls")
    @classmethod
    def _always_strict(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A row whose label is unknown or missing cannot be trained or scored on: the target is always strict.
        if value not in (None, "quarantine"):
            raise ValueError(f"the target is always validated strictly; remove {info.field_name} from target")
        return value


class ValidationSpec(_Strict):
    """Model-wide defaults for what a data problem does to a partition, overridable per column.

    ``quarantine`` (the default for both) withholds the partition's features; the lenient choices keep the
    partition and report the problem in the non-blocking ``data_quality`` check on ``features``:

    - ``on_unknown_category: map_to_unknown``: a value outside a column's ``categories`` becomes null, which
      ``preprocessing: auto`` imputes like any missing value.
    - ``on_excess_nulls: warn``: a column whose null share exceeds ``max_null_fraction`` is kept as it is.

    The target is never lenient: these defaults apply to features only.
    """

    on_unknown_category: UnknownCategoryPolicy = "quarantine"
    on_excess_nulls: ExcessNullsPolicy = "quarantine"


class LandingSpec(_Strict):
    """Where a model's daily files land and in which format.

    One file per day, named by its partition date (``2026-01-31.parquet``). ``path`` is relative to
    ``RETRAIN_HOME`` unless absolute.
    """

    path: str
    format: Literal["parquet", "csv"] = "parquet"

    @property
    def suffix(self) -> str:
        """The file suffix a landed file must carry."""
        return "." + self.format


class PartitionSpec(_Strict):
    """Daily partitions starting at ``start_date``; a file dated before it is rejected."""

    start_date: dt.date
    min_rows: Annotated[int, Field(ge=1)] = 1


class EstimatorSpec(_Strict):
    """A scikit-learn estimator or transformer named by import path, with its constructor parameters."""

    class_: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("class_")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if "." not in value or not all(part.isidentifier() for part in value.split(".")):
            raise ValueError(f"{value!r} is not an import path; write the full path, e.g. sklearn.linear_model.Ridge")
        return value


class ModelSection(_Strict):
    """How the model is built.

    ``preprocessing: auto`` puts an imputer and scaler in front of numeric columns and a one-hot encoder in front
    of categorical ones, so any estimator works on raw features; ``none`` hands the raw frame to the estimator;
    a list of steps builds an explicit pipeline (each step an estimator spec) before the estimator.
    """

    estimator: EstimatorSpec
    preprocessing: Annotated[
        Union[Annotated[Literal["auto", "none"], Tag("keyword")], Annotated[list[EstimatorSpec], Tag("steps")]],  # noqa: UP007
        Discriminator(lambda v: "steps" if isinstance(v, list) else "keyword"),
    ] = "auto"


class TrainingSpec(_Strict):
    """Which data a candidate is trained on and how much of it is held out for the promotion gate.

    The holdout is the most recent ``holdout_fraction`` of the window's rows (by partition date), so the gate
    measures what matters after drift: performance on the newest data. The first model is trained once
    ``min_partitions`` valid partitions holding at least ``min_rows`` rows exist; once a champion exists a retrain
    needs only ``retrain_min_partitions`` (default 1), so a quarantined day or two in the window never blocks
    retraining after drift. ``max_runtime_minutes`` bounds
    how long any run automation launches for the model may take before run monitoring fails it (and automation
    retries it); without it the instance-wide limit applies (six hours in the shipped ``dagster.yaml``).

    ``refit_on_full_window`` (default on): the gate judges a fit on the older part of the window by its
    predictions on the holdout; the version registered (and promoted, if the gate agrees) is then refit on the
    whole window, holdout included, so the model in production has learned from its newest days. Off, the
    registered model is the validation fit itself.
    """

    window_days: Annotated[int, Field(ge=1, le=3650)] = 28
    min_partitions: Annotated[int, Field(ge=1)] = 1
    retrain_min_partitions: Annotated[int, Field(ge=1)] = 1
    holdout_fraction: Annotated[float, Field(gt=0.0, lt=0.9)] = 0.2
    min_rows: Annotated[int, Field(ge=10)] = 200
    random_state: int = 0
    max_runtime_minutes: Annotated[float, Field(gt=0)] | None = None
    refit_on_full_window: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> TrainingSpec:
        # A window of N days holds at most N daily partitions: a larger minimum could never be met.
        for name in ("min_partitions", "retrain_min_partitions"):
            if getattr(self, name) > self.window_days:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) is more than window_days ({self.window_days}): a window holds "
                    f"at most one partition per day, so training would never start; lower {name} or raise window_days"
                )
        return self

    def partitions_needed(self, has_champion: bool) -> tuple[str, int]:
        """The field that sets how many valid partitions a training needs, and its value."""
        name = "retrain_min_partitions" if has_champion else "min_partitions"
        return name, getattr(self, name)


class MetricSpec(_Strict):
    """The primary metric: it ranks candidates, gates promotion and defines the performance floor.

    ``average`` applies to f1, precision, recall and roc_auc: ``binary`` (two classes, the greater label is the
    positive class), ``macro``, ``weighted`` or ``micro`` (not roc_auc, which is one-vs-rest for more than two
    classes). Left out it is ``binary`` for a two-class target and ``macro`` otherwise.
    """

    name: str
    average: Literal["binary", "micro", "macro", "weighted"] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from retrain_platform.promotion.metrics import METRICS

        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; choose one of: {', '.join(sorted(METRICS))}")
        return value


class GateSpec(_Strict):
    """The promotion gate: a paired bootstrap of the holdout metric's gain (candidate minus champion).

    The confidence interval of the gain (at ``confidence``) decides, by ``mode``:

    - ``better``: promote only when the observed gain reaches ``min_improvement`` and the interval lies above zero
      (the candidate is measurably better). On drifting data this keeps most champions: two models a few days
      apart are rarely distinguishable on a small holdout, and the stale one is kept.
    - ``not_worse``: promote unless the interval lies below ``-tolerance`` times the champion's holdout score
      (the candidate is measurably worse by more than a practically negligible share). The fresher model wins a
      tie, which is what a fixed refit schedule gets right, while a candidate the holdout shows to be worse is
      still refused. The tolerance is relative so one default fits every metric's scale; it exists because two
      models a day apart make nearly the same predictions, so a paired interval can be narrow enough to call a
      loss of a thousandth of the metric "significant" and keep a stale champion for it.

    The very first model is promoted when its holdout metric clears ``min_score``.

    ``probation_days`` gives a refused candidate a second look. The holdout judges the candidate's validation fit,
    not the model that would be promoted (which is refit on the whole window, holdout included), so a refusal
    is a verdict on a proxy. With probation the refused candidate is kept as a challenger and, once that many
    days have landed after its window (days neither model was fit on), the registered challenger and the
    champion are compared on them by the same rule: promoted unless it is refused again, then refused for good.
    A newer candidate replaces a challenger still waiting.

    ``shadow_days`` adds live traffic to that second look, for every candidate (not only one the holdout
    refused): the challenger (scored in shadow by
    ``retrain serve --shadow``) is promoted only once it has that many judged live days (``feedback.min_labels``
    labelled rows each) and its mean live metric there is not worse than the champion's on the same rows by more
    than the tolerance; it keeps waiting until then. It needs ``feedback`` and ``probation_days``.
    """

    mode: Literal["better", "not_worse"] = "not_worse"
    min_improvement: Annotated[float, Field(ge=0.0)] = 0.0
    tolerance: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    bootstrap_samples: Annotated[int, Field(ge=100, le=100_000)] = 1000
    min_score: float | None = None
    seed: int = 0
    probation_days: Annotated[int, Field(ge=1, le=90)] | None = None
    shadow_days: Annotated[int, Field(ge=1, le=90)] | None = None

    @model_validator(mode="after")
    def _margin_needs_better(self) -> GateSpec:
        if self.mode == "not_worse" and self.min_improvement > 0:
            raise ValueError(
                "min_improvement applies to mode 'better' (the gain a candidate must show); with mode 'not_worse' "
                "a candidate is promoted unless measurably worse. Remove min_improvement or set mode: better"
            )
        if self.mode == "better" and "tolerance" in self.model_fields_set and self.tolerance > 0:
            raise ValueError(
                "tolerance applies to mode 'not_worse' (the loss it ignores); mode 'better' requires a gain. Remove "
                "tolerance or set mode: not_worse"
            )
        return self


class ColumnDriftSpec(_Strict):
    """A per-column override of the drift method and/or threshold (defaults follow evidently's choice)."""

    method: str | None = None
    threshold: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None

    @field_validator("method")
    @classmethod
    def _supported(cls, value: str | None) -> str | None:
        from retrain_platform.drift import SUPPORTED_METHODS

        if value is not None and value not in SUPPORTED_METHODS:
            raise ValueError(f"unknown drift method {value!r}; choose one of: {', '.join(SUPPORTED_METHODS)}")
        return value


class DriftReportSpec(_Strict):
    """The evidently HTML report, built from a bounded, reproducible sample so its cost does not grow with data.

    ``when``: ``always`` (every partition), ``on_drift`` (only partitions whose drift check fails; evidently's
    charts cost about a second per partition whatever the sample size) or ``never``.
    """

    when: Literal["always", "on_drift", "never"] = "always"
    sample_rows: Annotated[int, Field(ge=100)] | None = 5000
    seed: int = 0


class DriftSpec(_Strict):
    """Drift detection: the drift check fails when the share of drifted columns reaches ``share_threshold``.

    ``false_alarm_rate`` calibrates each column's threshold on the champion's own training window: every day of
    the window is checked against the rest, and a column drifts only when it moves more than all but this share
    of those ordinary days did (thresholds are only loosened from evidently's defaults, never tightened). ``null``
    keeps evidently's defaults, which on large seasonal data flag most columns on every day. A column given an
    explicit ``threshold`` under ``columns`` is not calibrated.

    Once failing, the check keeps failing for the same champion until the drifted share falls below
    ``share_threshold * clear_ratio``, so a share that swings around the threshold is one drift episode (one
    retrain), not one per crossing.
    """

    share_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    false_alarm_rate: Annotated[float, Field(gt=0.0, le=0.5)] | None = 0.05
    clear_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    columns: dict[str, ColumnDriftSpec] = Field(default_factory=dict)
    report: DriftReportSpec = DriftReportSpec()


class TriggerSpec(_Strict):
    """What starts a retrain. Every trigger is optional; each one is a labelled automation condition in Dagster.

    - ``drift``: the drift check newly fails (see :class:`DriftSpec` for calibration and hysteresis).
    - ``performance_floor``: the mean of the champion's primary metric over its last ``performance_window_days``
      scored partitions falls below this value (for error metrics such as rmse, *rises above* it). A window of 1
      judges each day alone, which on real data mostly answers noise.
    - ``performance_drop``: that mean is worse than the champion's own holdout score by more than this, *and* by
      more than two standard errors of the window's daily scores (a decline, not a bad day).
    - ``max_model_age_days``: the champion is older than this (a freshness policy on ``production_model``).
    - ``new_rows``: this many valid rows have landed since the last training.
    - ``cron``: a fixed schedule (UTC), e.g. ``"0 3 * * 1"`` for Mondays at 03:00.
    """

    drift: bool = True
    performance_floor: float | None = None
    performance_drop: Annotated[float, Field(ge=0.0)] | None = None
    performance_window_days: Annotated[int, Field(ge=1, le=90)] = 7
    max_model_age_days: Annotated[float, Field(gt=0)] | None = 7.0
    new_rows: Annotated[int, Field(ge=1)] | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a valid cron expression; five fields, e.g. '0 3 * * 1'")
        return value


# Measured by backtest (flights, mpls_stops, elec_demand and both examples): three days of probation were never
# worse than none and better on flights and elec_demand, whose refusals were of validation fits the refit beat.
DEFAULT_PROBATION_DAYS = 3


class FeedbackSpec(_Strict):
    """Where the delayed labels of live predictions land, and how they are matched with the prediction log.

    One file per arrival day lands in ``path`` (relative to the lake root unless absolute or a URL), named
    ``YYYY-MM-DD.parquet`` (or ``.csv``) and written atomically like a landing. It holds the target column and the
    key: with ``key: request_id`` the ``request_id`` ``retrain serve`` answered (and ``row``, the row's position in
    its request, for requests of several rows; 0 when absent); with any other ``key``, that feature column, whose
    values identify a prediction. A later label for the same prediction replaces an earlier one.

    ``label_delay_days`` is how long after a prediction its label may arrive: a file of day D is matched with
    the predictions of days D - label_delay_days .. D, and a prediction day is judged only once at least
    ``min_labels`` of its predictions are labelled. The live metric is judged with the spec's performance
    triggers (``triggers.performance_floor`` / ``performance_drop``); ``retrain: true`` makes its failure a retrain
    trigger. ``prediction_drift_threshold`` is the Kolmogorov-Smirnov distance between a day's live answers and
    the champion's answers on its holdout at which the ``prediction_drift`` check fails;
    ``retrain_on_prediction_drift: true`` makes that failure a retrain trigger too (it needs no labels).

    ``rollback_margin`` turns on automatic rollback (:mod:`retrain_platform.feedback.rollback`): once the
    champion has ``rollback_days`` judged live days, a mean live metric worse than its predecessor's by more than
    this (in the metric's units) moves the alias back, recorded like a manual rollback.
    """

    path: str
    format: Literal["parquet", "csv"] = "parquet"
    key: str = "request_id"
    label_delay_days: Annotated[int, Field(ge=0, le=365)] = 7
    min_labels: Annotated[int, Field(ge=1)] = 50
    prediction_drift_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    retrain: bool = True
    retrain_on_prediction_drift: bool = False
    rollback_margin: Annotated[float, Field(ge=0.0)] | None = None
    rollback_days: Annotated[int, Field(ge=1, le=90)] = 3

    @property
    def suffix(self) -> str:
        """The file suffix a label file must carry."""
        return "." + self.format


class ModelSpec(_Strict):
    """A model onboarded to the platform: data contract, landing, estimator, metric, gate, drift and triggers."""

    name: str
    description: str | None = None
    task: Literal["classification", "regression"]
    target: TargetSpec
    features: dict[str, ColumnSpec]
    ignore_extra_columns: bool = False
    validation: ValidationSpec = ValidationSpec()
    source: SqlSourceSpec | None = None
    landing: LandingSpec
    partitions: PartitionSpec
    model: ModelSection
    training: TrainingSpec = TrainingSpec()
    metric: MetricSpec
    gate: GateSpec = GateSpec()
    drift: DriftSpec = DriftSpec()
    triggers: TriggerSpec = TriggerSpec()
    notifications: NotificationsSpec | None = None
    feedback: FeedbackSpec | None = None
    compute: ComputeSpec = ComputeSpec()

    @model_validator(mode="before")
    @classmethod
    def _default_landing(cls, data: Any) -> Any:
        """With a ``source``, ``landing`` may be left out: extracted days land in ``landing/<name>``."""
        if isinstance(data, dict) and data.get("source") is not None and "landing" not in data:
            return {**data, "landing": {"path": f"landing/{data.get('name')}"}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_probation(cls, data: Any) -> Any:
        """``gate.probation_days`` defaults to :data:`DEFAULT_PROBATION_DAYS`, or to off when the age trigger
        would end every probation (``max_model_age_days`` at most that long); ``null`` turns it off."""
        if not isinstance(data, dict) or not isinstance(data.get("gate", {}), dict):
            return data
        gate = data.get("gate") or {}
        if "probation_days" in gate:
            return data
        triggers = data.get("triggers") or {}
        max_age = triggers.get("max_model_age_days", 7.0) if isinstance(triggers, dict) else triggers.max_model_age_days
        short = isinstance(max_age, (int, float)) and max_age <= DEFAULT_PROBATION_DAYS
        return {**data, "gate": {**gate, "probation_days": None if short else DEFAULT_PROBATION_DAYS}}

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid model name; use lower-case letters, digits and underscores, "
                "starting with a letter (it becomes a Dagster asset-key prefix and an MLflow model name)"
            )
        return value

    @field_validator("target")
    @classmethod
    def _target_fits_task(cls, target: TargetSpec, info: ValidationInfo) -> TargetSpec:
        if info.data.get("task") == "regression" and target.type not in NUMERIC_TYPES:
            raise ValueError(f"a regression target must be float or int, not {target.type!r}")
        return target

    @field_validator("features")
    @classmethod
    def _features(cls, features: dict[str, ColumnSpec], info: ValidationInfo) -> dict[str, ColumnSpec]:
        if not features:
            raise ValueError("features is empty; list at least one input column")
        target = info.data.get("target")
        if target is not None and target.name in features:
            raise ValueError(f"the target {target.name!r} is also listed as a feature; remove it from features")
        return features

    @field_validator("metric")
    @classmethod
    def _metric_fits_task(cls, metric: MetricSpec, info: ValidationInfo) -> MetricSpec:
        from retrain_platform.promotion.metrics import METRICS, check_average

        task = info.data.get("task")
        if task is not None and METRICS[metric.name].task != task:
            valid = sorted(name for name, m in METRICS.items() if m.task == task)
            raise ValueError(
                f"metric {metric.name!r} is for {METRICS[metric.name].task}; for {task} use one of {valid}"
            )
        definition = METRICS[metric.name]
        if metric.average is not None and not definition.averages:
            takes = sorted(name for name, m in METRICS.items() if m.averages)
            raise ValueError(f"metric {metric.name!r} takes no average (only {', '.join(takes)} do); remove average")
        target = info.data.get("target")
        categories = None if target is None or target.categories is None else target.categories
        if task == "classification" and categories is not None and len(categories) < 2:
            raise ValueError(f"target.categories lists {len(categories)} class; a classifier needs at least two")
        if metric.average is not None:
            # The class count is known up front only when the target lists its categories; otherwise the
            # combination is checked against the classes of the first training window.
            check_average(definition, metric.average, None if categories is None else len(categories))
        return metric

    @field_validator("drift")
    @classmethod
    def _drift_fits_features(cls, drift: DriftSpec, info: ValidationInfo) -> DriftSpec:
        features = info.data.get("features")
        if features is None:
            return drift
        unknown = sorted(set(drift.columns) - set(features))
        if unknown:
            raise ValueError(f"drift.columns names {unknown}, which are not features; features are: {sorted(features)}")
        from retrain_platform.drift.methods import get_method

        for column, override in drift.columns.items():
            if override.method is None:
                continue
            method, kind = get_method(override.method), features[column].drift_kind
            if kind not in method.kinds:
                raise ValueError(
                    f"drift.columns.{column}.method: {column!r} is {kind}, but {method.name!r} only accepts "
                    f"{' or '.join(method.kinds)} columns"
                )
            if method.is_p_value and override.threshold is not None and override.threshold > 1:
                raise ValueError(
                    f"drift.columns.{column}.threshold: {method.name!r} returns a p-value; use a threshold in [0, 1]"
                )
        return drift

    @model_validator(mode="after")
    def _shadow_needs_feedback_and_probation(self) -> ModelSpec:
        if self.gate.shadow_days is not None and (self.feedback is None or not self.gate.probation_days):
            raise ValueError(
                "gate.shadow_days judges a challenger on probation by its live shadow metric: it needs a feedback "
                "section (where labels come back) and gate.probation_days; add them or remove shadow_days"
            )
        return self

    @field_validator("feedback")
    @classmethod
    def _feedback_key(cls, feedback: FeedbackSpec | None, info: ValidationInfo) -> FeedbackSpec | None:
        features = info.data.get("features") or {}
        if feedback is not None and feedback.key != "request_id" and feedback.key not in features:
            raise ValueError(
                f"feedback.key {feedback.key!r} is neither request_id nor a feature; label files are matched with "
                f"the prediction log by request_id or by a feature column ({', '.join(features)})"
            )
        return feedback

    @field_validator("triggers")
    @classmethod
    def _probation_ends_before_the_age_retrain(cls, triggers: TriggerSpec, info: ValidationInfo) -> TriggerSpec:
        gate, max_age = info.data.get("gate"), triggers.max_model_age_days
        if gate is not None and gate.probation_days and max_age is not None and gate.probation_days >= max_age:
            # The age trigger trains a newer candidate max_model_age_days after the last one, which replaces a
            # challenger still waiting: such a probation could never end, and every refusal would be final.
            raise ValueError(
                f"gate.probation_days ({gate.probation_days}) must be shorter than triggers.max_model_age_days "
                f"({max_age:g}): the age trigger's next candidate would replace the challenger before its probation "
                "ends. Lower probation_days or raise max_model_age_days"
            )
        return triggers

    def unknown_category_policy(self, column: str) -> str:
        """What a value outside ``column``'s categories does: the column's own choice, else the model-wide one."""
        if column == self.target.name:
            return "quarantine"
        return self.features[column].on_unknown_category or self.validation.on_unknown_category

    def excess_nulls_policy(self, column: str) -> str:
        """What a null share above ``column``'s tolerance does: the column's own choice, else the model-wide one."""
        if column == self.target.name:
            return "quarantine"
        return self.features[column].on_excess_nulls or self.validation.on_excess_nulls

    @property
    def columns(self) -> dict[str, ColumnSpec]:
        """Every column a landed file must carry: the features followed by the target."""
        return {**self.features, self.target.name: self.target}

    @property
    def drift_kinds(self) -> dict[str, Literal["numerical", "categorical"]]:
        """Each feature's drift kind, as the drift engine expects it."""
        return {name: column.drift_kind for name, column in self.features.items()}
