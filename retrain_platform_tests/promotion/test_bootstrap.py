"""The gate's bootstrap: exact per-resample metrics, agreement with scipy, determinism, degenerate holdouts, memory.

Every configuration of every metric in METRICS is checked on data with tied scores, an imbalanced target and a rare
class that some resamples do not draw:

* **exactness**: the metric computed from draw counts equals scikit-learn's metric on the explicitly resampled rows
  (``np.repeat`` of the rows by their counts) to 1e-9, for random resamples and for resamples that miss a class;
* **agreement with scipy**: the interval agrees with ``scipy.stats.bootstrap(method="percentile")`` run on other
  random numbers within :data:`MC_TOLERANCE` of scipy's interval width (why that tolerance: see its comment), and
  statistics with deliberate, plausible bugs fail that same check;
* **same resamples**: with scipy's batch and seed, the interval *is* scipy's (the old gate's) to rounding.
"""

from __future__ import annotations

import logging
import math
import tracemalloc
from dataclasses import dataclass, replace

import numpy as np
import pytest
import sklearn
from scipy import stats
from sklearn import metrics as skm

from retrain_platform.promotion import bootstrap
from retrain_platform.promotion.bootstrap import (
    Resamples,
    draw_resamples,
    exact_statistic,
    fast_scorer,
    gain_interval,
    paired_statistic,
)
from retrain_platform.promotion.metrics import METRICS, Metric

pytestmark = pytest.mark.filterwarnings("ignore")  # scikit-learn warns on every single-class reference resample

N = 160
CONFIDENCE = 0.95
# Endpoints may differ by this share of scipy's interval width. A percentile endpoint estimated from R resamples has
# a Monte-Carlo standard error of about 0.68 / sqrt(R) interval widths (normal approximation: 2.67 sigma / sqrt(R)
# against a width of 3.92 sigma), so independent estimates from 500 (scipy: the slow side) and 4000 (ours)
# resamples differ by 0.032 widths in standard deviation: 0.15 is 4.7 of them, which random numbers alone do not
# reach (the worst of the 92 endpoints here is 0.08, the median 0.05), while the plausible bugs of
# test_a_wrong_statistic_fails_the_agreement_check move an endpoint by 0.20 to 0.23 widths and fail.
MC_TOLERANCE = 0.15
SCIPY_RESAMPLES = 500
OUR_RESAMPLES = 4000


# --------------------------------------------------------------------------------------------------
# data: ties, imbalance, a rare class
# --------------------------------------------------------------------------------------------------


def _binary(rng: np.random.Generator) -> dict[str, np.ndarray]:
    y = (rng.random(N) < 0.25).astype(int)  # imbalanced: about a quarter positive
    candidate = np.round(np.clip(0.35 * y + 0.65 * rng.random(N), 0, 1), 1)  # one decimal: many ties
    champion = np.round(np.clip(candidate + rng.normal(0, 0.15, N) - 0.08 * y, 0, 1), 2)  # correlated, fewer ties
    return {
        "y": y,
        "candidate_proba": candidate,
        "champion_proba": champion,
        "candidate_label": (candidate >= 0.4).astype(int),
        "champion_label": (champion >= 0.4).astype(int),
    }


def _proba(raw: np.ndarray) -> np.ndarray:
    """Rows of ``raw`` rounded to one decimal (so columns tie), kept above 0 and made to sum to 1."""
    rounded = np.clip(np.round(raw, 1), 0.01, None)
    return rounded / rounded.sum(axis=1, keepdims=True)


def _multiclass(rng: np.random.Generator) -> dict[str, np.ndarray]:
    y = rng.choice(2, N, p=[0.58, 0.42])
    y[:2] = 2  # a rare class: about one resample in seven draws neither of its rows
    candidate = _proba(0.55 * np.eye(3)[y] + 0.45 * rng.dirichlet([1, 1, 1], N))
    champion = _proba(0.35 * np.eye(3)[y] + 0.65 * rng.dirichlet([1, 1, 1], N))
    return {
        "y": y,
        "candidate_proba": candidate,
        "champion_proba": champion,
        "candidate_label": candidate.argmax(axis=1),
        "champion_label": champion.argmax(axis=1),
    }


def _regression(rng: np.random.Generator) -> dict[str, np.ndarray]:
    y = np.round(rng.normal(50, 10, N))  # whole numbers: tied targets
    candidate = y + rng.normal(0, 4, N)
    return {"y": y, "candidate": candidate, "champion": candidate + rng.normal(0, 3, N)}


BINARY = _binary(np.random.default_rng(10))
MULTICLASS = _multiclass(np.random.default_rng(11))
REGRESSION = _regression(np.random.default_rng(12))
NAMES = np.array(["high", "low", "mid"])
STRINGS = {**MULTICLASS, **{k: NAMES[MULTICLASS[k]] for k in ("y", "candidate_label", "champion_label")}}


@dataclass(frozen=True)
class Case:
    """One metric configuration and the holdout it is scored on."""

    id: str
    metric: Metric
    y: np.ndarray
    candidate: np.ndarray
    champion: np.ndarray
    rare: object  # the label some resamples miss

    def __repr__(self) -> str:
        return self.id


def _on(case_id: str, metric: Metric, data: dict[str, np.ndarray], kind: str, rare: object) -> Case:
    return Case(case_id, metric, data["y"], data[f"candidate_{kind}"], data[f"champion_{kind}"], rare)


def _cases() -> list[Case]:
    cases = []
    for name, metric in METRICS.items():
        if metric.task == "regression":
            cases.append(Case(name, metric, REGRESSION["y"], REGRESSION["candidate"], REGRESSION["champion"], None))
            continue
        kind = "proba" if metric.uses_proba else "label"
        cases.append(_on(f"{name}-unconfigured", metric, BINARY, kind, 1))
        for average in metric.averages or (None,):
            cases.append(_on(f"{name}-binary-{average}", metric.configured([0, 1], average), BINARY, kind, 1))
            if average != "binary":
                three = metric.configured([0, 1, 2], average)
                cases.append(_on(f"{name}-3class-{average}", three, MULTICLASS, kind, 2))
    cases.append(_on("f1-3class-strings", METRICS["f1"].configured(NAMES, "macro"), STRINGS, "label", "mid"))
    cases.append(_on("log_loss-3class-unconfigured", METRICS["log_loss"], MULTICLASS, "proba", 2))
    return cases


CASES = _cases()


def _case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def test_every_metric_and_average_is_covered() -> None:
    covered = {(c.metric.name, c.metric.average) for c in CASES}
    for name, metric in METRICS.items():
        assert all((name, a) in covered for a in metric.averages or (None,)), name


# --------------------------------------------------------------------------------------------------
# exactness of the per-resample statistic
# --------------------------------------------------------------------------------------------------


def reference_scores(metric: Metric, y: np.ndarray, prediction: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """scikit-learn's metric on each resample's rows, each row repeated as often as it was drawn (NaN: undefined)."""
    scores = []
    for row_counts in counts:
        rows = np.repeat(np.arange(len(y)), row_counts)
        try:
            scores.append(metric.score(y[rows], prediction[rows]))
        except ValueError:
            scores.append(math.nan)
    return np.array(scores)


def some_counts(case: Case, seed: int = 0) -> np.ndarray:
    """Row counts of a few resamples: random ones, the holdout itself, and two that never draw the rare class
    (neither a row of it nor, for predicted labels, a row predicted to be it)."""
    rng = np.random.default_rng(seed)
    n = len(case.y)
    random = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(6)]
    if case.rare is None:
        return np.array([*random, np.ones(n, dtype=int)])
    has_rare = case.y == case.rare
    if not case.metric.uses_proba:  # the class must be absent from the predictions as well
        has_rare |= (case.candidate == case.rare) | (case.champion == case.rare)
    others = np.flatnonzero(~has_rare)
    missing = [np.bincount(rng.choice(others, n), minlength=n) for _ in range(2)]
    return np.array([*random, np.ones(n, dtype=int), *missing])


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_weighted_resample_metric_equals_scikit_learn_on_the_resampled_rows(case: Case) -> None:
    counts = some_counts(case)
    resamples = Resamples.from_counts(counts)
    for prediction in (case.candidate, case.champion):
        scorer = fast_scorer(case.metric, case.y, prediction)
        assert scorer is not None, f"{case.id} has no fast path"
        found = scorer.scores(resamples)
        expected = reference_scores(case.metric, case.y, prediction, counts)
        np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_paired_gain_equals_the_exact_path_on_the_same_resamples(case: Case) -> None:
    chunks = list(draw_resamples(len(case.y), 40, np.random.default_rng(1)))
    fast = paired_statistic(case.metric, case.y, case.candidate, case.champion)
    exact = exact_statistic(case.metric, case.y, case.candidate, case.champion)
    for resamples in chunks:
        np.testing.assert_allclose(fast(resamples), exact(resamples), rtol=1e-9, atol=1e-12, equal_nan=True)


def test_rare_class_absent_from_a_resample_is_left_out_of_macro_averages() -> None:
    """``_label_metric``'s rule, per resample: a class with no draw in the target or the predictions is absent."""
    case = _case("f1-3class-macro")
    counts = some_counts(case)[-2:]  # the two resamples without the rare class
    assert (counts[:, case.y == case.rare] == 0).all()
    assert (case.candidate == case.rare).any() and (case.champion == case.rare).any()
    for prediction in (case.candidate, case.champion):
        assert (counts[:, prediction == case.rare] == 0).all()
        scores = fast_scorer(case.metric, case.y, prediction).scores(Resamples.from_counts(counts))
        resampled = [np.repeat(np.arange(N), c) for c in counts]
        two_class = [skm.f1_score(case.y[r], prediction[r], labels=[0, 1], average="macro") for r in resampled]
        np.testing.assert_allclose(scores, two_class, rtol=1e-12)


def test_r2_of_a_resample_with_a_constant_target_is_scikit_learns_finite_value() -> None:
    y = np.array([3.0, 3.0, 3.0, 5.0])
    scorer = fast_scorer(METRICS["r2"], y, np.array([3.0, 2.0, 3.0, 5.0]))
    counts = np.array([[1, 0, 3, 0], [2, 2, 0, 0], [1, 1, 1, 1]])  # perfect constant, imperfect constant, all rows
    np.testing.assert_allclose(scorer.scores(Resamples.from_counts(counts)), [1.0, 0.0, 1 - 1 / 3], rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# agreement with scipy's bootstrap
# --------------------------------------------------------------------------------------------------


def scipy_interval(case: Case, n_resamples: int, seed: int, batch: int | None = None) -> tuple[float, float]:
    """``scipy.stats.bootstrap``'s percentile interval of the gain, scikit-learn scoring every resample."""
    metric, y, candidate, champion = case.metric, case.y, case.candidate, case.champion

    def gain(rows: np.ndarray) -> float:
        return metric.gain(metric.score(y[rows], candidate[rows]), metric.score(y[rows], champion[rows]))

    try:
        with sklearn.config_context(skip_parameter_validation=True):
            result = stats.bootstrap(
                (np.arange(len(y)),),
                gain,
                vectorized=False,
                n_resamples=n_resamples,
                batch=batch,
                confidence_level=CONFIDENCE,
                method="percentile",
                rng=np.random.default_rng(seed),
            )
    except ValueError:  # scikit-learn raised on a resample
        return math.nan, math.nan
    return tuple(float(x) for x in result.confidence_interval)


def agrees(found: tuple[float, float], reference: tuple[float, float]) -> bool:
    """Both endpoints within MC_TOLERANCE of the reference interval's width (or both intervals undefined)."""
    if math.isnan(reference[0]) or math.isnan(found[0]):
        return math.isnan(reference[0]) and math.isnan(found[0])
    allowed = MC_TOLERANCE * (reference[1] - reference[0])
    return abs(found[0] - reference[0]) <= allowed and abs(found[1] - reference[1]) <= allowed


def our_interval(case: Case, n_resamples: int = OUR_RESAMPLES, seed: int = 7) -> tuple[float, float]:
    """The gate's interval for ``case``."""
    return gain_interval(
        case.metric, case.y, case.candidate, case.champion, n_resamples=n_resamples, confidence=CONFIDENCE, seed=seed
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_interval_agrees_with_scipy_bootstrap_within_monte_carlo_error(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=bootstrap.__name__):
        found = our_interval(case)
    assert not caplog.records, "the fast path fell back to scikit-learn"
    reference = scipy_interval(case, SCIPY_RESAMPLES, seed=3)
    assert agrees(found, reference), f"{case.id}: ours {found}, scipy {reference}"


def _ties_win_auc(y_true, prediction, average=None, labels=None) -> float:
    """A plausible bug: ties between a positive and a negative counted as a win, not one half."""
    positive = np.asarray(y_true) == 1
    return skm.roc_auc_score(positive, np.asarray(prediction) + 1e-9 * positive)


def _absent_classes_macro_f1(y_true, prediction, average=None, labels=None) -> float:
    """A plausible bug: every label averaged, also one no row of the resample has (scored 0)."""
    return skm.f1_score(y_true, prediction, labels=list(labels), average="macro", zero_division=0.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case_id", "wrong_fn"),
    [("roc_auc-binary-binary", _ties_win_auc), ("f1-3class-macro", _absent_classes_macro_f1)],
    ids=["ties-as-wins", "absent-classes-averaged"],
)
def test_a_wrong_statistic_fails_the_agreement_check(case_id: str, wrong_fn) -> None:
    """The tolerance is tight enough to see statistics that are plausibly, but only slightly, wrong."""
    case = _case(case_id)
    wrong = replace(case, metric=replace(case.metric, name=f"{case.metric.name}_wrong", fn=wrong_fn))
    reference = scipy_interval(case, SCIPY_RESAMPLES, seed=3)
    assert agrees(our_interval(case), reference)
    wrong_interval = scipy_interval(wrong, SCIPY_RESAMPLES, seed=5)
    assert not agrees(wrong_interval, reference), f"wrong {wrong_interval} passed against {reference}"


def test_unpaired_resampling_fails_the_agreement_check() -> None:
    """Resampling the champion's rows independently of the candidate's (losing the pairing) is caught."""
    case = _case("rmse")
    rng = np.random.default_rng(5)
    gains = []
    for _ in range(OUR_RESAMPLES):
        a, b = rng.integers(0, N, N), rng.integers(0, N, N)
        gains.append(
            case.metric.gain(
                case.metric.score(case.y[a], case.candidate[a]), case.metric.score(case.y[b], case.champion[b])
            )
        )
    unpaired = bootstrap.percentile_interval(np.array(gains), CONFIDENCE)
    reference = scipy_interval(case, SCIPY_RESAMPLES, seed=3)
    assert agrees(our_interval(case), reference)
    assert not agrees(unpaired, reference)


@pytest.mark.parametrize("case_id", ["rmse", "accuracy-binary-None", "roc_auc-binary-binary", "f1-3class-weighted"])
def test_same_seed_and_batch_give_scipys_own_interval(case_id: str) -> None:
    """The gate draws the resamples scipy drew for the same seed, so the old gate's intervals are kept to rounding.

    Rows are repeated so that scipy draws several batches (the old gate's batch size). A change in how scipy
    draws its resamples would fail this test, not the gate: the Monte-Carlo test above is the one that matters.
    """
    case = _case(case_id)
    big = replace(case, **{k: np.concatenate([getattr(case, k)] * 60) for k in ("y", "candidate", "champion")})
    batch = bootstrap._DRAWS_PER_BATCH // len(big.y)
    assert 1 < batch < 300  # several batches
    found = our_interval(big, n_resamples=300, seed=4)
    np.testing.assert_allclose(found, scipy_interval(big, 300, seed=4, batch=batch), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# determinism, fallback, degenerate holdouts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", ["roc_auc-3class-weighted", "rmse", "recall-binary-binary"])
def test_deterministic_for_a_seed(case_id: str) -> None:
    case = _case(case_id)
    first = our_interval(case, n_resamples=500, seed=1)
    assert our_interval(case, n_resamples=500, seed=1) == first
    assert our_interval(replace(case, y=case.y.copy()), n_resamples=500, seed=1) == first
    assert our_interval(case, n_resamples=500, seed=2) != first


def _median_absolute_error(y_true, prediction) -> float:
    return skm.median_absolute_error(y_true, prediction)


@pytest.mark.parametrize(
    "metric",
    [
        Metric("median_ae", "regression", False, False, _median_absolute_error),  # a metric added later
        Metric("rmse", "regression", False, False, _median_absolute_error),  # a known name, another function
        # an average the fast path lacks (scikit-learn refuses it for multiclass targets too: both undefined)
        replace(METRICS["f1"].configured([0, 1, 2], "macro"), average="samples"),
    ],
    ids=["new-metric", "renamed-function", "unknown-average"],
)
def test_a_metric_without_a_fast_path_uses_scikit_learn_on_every_resample(metric: Metric) -> None:
    y, candidate, champion = (
        (REGRESSION["y"], REGRESSION["candidate"], REGRESSION["champion"])
        if metric.task == "regression"
        else (MULTICLASS["y"], MULTICLASS["candidate_label"], MULTICLASS["champion_label"])
    )
    assert fast_scorer(metric, y, candidate) is None
    case = Case(metric.name, metric, y, candidate, champion, None)
    found = gain_interval(metric, y, candidate, champion, n_resamples=200, confidence=CONFIDENCE, seed=4)
    expected = scipy_interval(case, 200, seed=4)
    np.testing.assert_allclose(found, expected, rtol=1e-12, equal_nan=True)


def test_a_fast_path_that_disagrees_on_the_full_holdout_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    case = _case("rmse")
    honest = bootstrap._BUILDERS["rmse"]

    def off_by_a_bit(metric, y, prediction):
        scorer = honest(metric, y, prediction)
        return replace(scorer, terms=scorer.terms * 1.01)

    monkeypatch.setitem(bootstrap._BUILDERS, "rmse", off_by_a_bit)
    with caplog.at_level(logging.WARNING, logger=bootstrap.__name__):
        found = our_interval(case, n_resamples=200, seed=4)
    assert "using scikit-learn on every resample" in caplog.text
    np.testing.assert_allclose(found, scipy_interval(case, 200, seed=4), rtol=1e-12)


@pytest.mark.parametrize(
    ("metric", "y", "prediction"),
    [
        (METRICS["roc_auc"], np.array([0] * 19 + [1]), np.linspace(0, 1, 20)),  # most resamples lack a positive
        (METRICS["roc_auc"], np.zeros(15, dtype=int), np.linspace(0, 1, 15)),  # a single-class holdout
        (
            METRICS["roc_auc"].configured([0, 1, 2]),
            np.array([0] * 12 + [1]),
            np.full((13, 3), 1 / 3),
        ),  # one row of class 1
        (METRICS["log_loss"], np.array([0] * 19 + [1]), np.linspace(0.01, 0.99, 20)),  # unlabelled: needs both
        (METRICS["rmse"], np.array([1.0]), np.array([2.0])),  # one row: scipy refuses it
        (METRICS["r2"], np.array([1.0]), np.array([2.0])),
    ],
    ids=[
        "auc-one-positive",
        "auc-single-class",
        "ovr-auc-single-class",
        "log-loss-one-positive",
        "rmse-one-row",
        "r2-one-row",
    ],
)
def test_degenerate_holdout_gives_an_undefined_interval(metric: Metric, y: np.ndarray, prediction: np.ndarray) -> None:
    champion = prediction[::-1].copy()
    low, high = gain_interval(metric, y, prediction, champion, n_resamples=200, confidence=CONFIDENCE, seed=0)
    assert math.isnan(low) and math.isnan(high)


# --------------------------------------------------------------------------------------------------
# memory at two million rows
# --------------------------------------------------------------------------------------------------

PEAK_BOUND = 300 * 2**20  # the target is under 1 GB; measured 99 MiB (roc_auc) and 84 MiB (rmse)


@pytest.mark.parametrize("name", ["roc_auc", "rmse"])
def test_two_million_rows_stay_well_under_a_gigabyte(name: str) -> None:
    rng = np.random.default_rng(0)
    n = 2_000_000
    y = rng.integers(0, 2, n)
    if name == "roc_auc":
        candidate, champion = 0.3 * y + 0.7 * rng.random(n), rng.random(n)
    else:
        candidate, champion = y + rng.normal(0, 1, n), y + rng.normal(0, 1.1, n)
    metric = METRICS[name]
    scores = (metric.score(y, candidate), metric.score(y, champion))
    tracemalloc.start()
    try:
        gain_interval(metric, y, candidate, champion, n_resamples=3, confidence=CONFIDENCE, seed=0, scores=scores)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.0f} MiB"
