"""The gate's confidence interval: a paired percentile bootstrap of a metric's gain, without scikit-learn per resample.

**What is computed.** ``B`` resamples of the holdout's ``n`` rows are drawn with replacement (the same rows for
both models: the bootstrap is paired). For each resample the candidate's and the champion's metric are computed
and the candidate's gain over the champion (:meth:`Metric.gain`, so positive means better whatever the metric's
direction) is kept. The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
``B`` gains, linearly interpolated. That is the *percentile* bootstrap, exactly what
``scipy.stats.bootstrap((np.arange(n),), gain_of_rows, method="percentile")`` computes, and exactly what the gate
computed before this module existed.

**How.** Resamples are drawn as scipy draws them, ``rng.integers(0, n, size=(batch, n))`` (the row indices of
``batch`` resamples at once), and turned into per-row draw counts (``np.bincount`` of each resample). Every
metric of :data:`METRICS` is a function of weighted per-row terms, so its value on a resample is computed from
those counts, for all resamples of a chunk at once, instead of re-running scikit-learn on copied rows:

* rmse, mae, mape, accuracy, log_loss: a weighted mean of a per-row term; r2 from weighted sums of the squared
  error and of the (centred) target;
* f1, precision, recall, balanced_accuracy: from weighted confusion counts per class, with the metric's
  ``average`` and its rule that only classes drawn in *that* resample (in the target or the predictions) are
  averaged;
* roc_auc: the Mann–Whitney statistic (tied scores count one half, which is what the trapezoid under scikit-learn's
  ROC curve counts), from one sort per model and score column and one cumulative sum per resample; for more than
  two classes one-vs-rest over the classes drawn in that resample, as ``metrics._roc_auc`` does.

Why counts of drawn indices: ``rng.multinomial(n, [1/n] * n)`` gives the same counts more than ten times slower
(one binomial draw per row), and Poisson(1) weights are several times slower as well and a different bootstrap
(the resample size varies). Drawing indices also keeps scipy's random stream: a seed gives the resamples the
scipy-based gate drew.

**Tolerance.** Per resample the computed metric equals scikit-learn's on the resampled rows to rounding (below
1e-15 in the tests, which require 1e-9; the counts are exact integers and the AUC's pair counts exact in int64).
With the same seed and scipy's ``batch`` set to the old gate's (``_DRAWS_PER_BATCH // n``) the resamples are
scipy's own, so the interval equals scipy's to rounding too; with different
random numbers two percentile intervals differ by Monte-Carlo error only, about ``1/sqrt(B)`` of the interval's
width (3 % at the default 1000 resamples). One documented departure: r2 on a resample whose target is constant is
defined as scikit-learn defines it (1 for a perfect prediction, else 0), where scikit-learn's own rounding of the
constant's mean may instead give an arbitrary large negative value.

**Undefined resamples.** A resample on which the metric is undefined (one class only, for roc_auc or an unlabelled
log_loss) makes the whole interval undefined (NaN), as scipy's interval was when scikit-learn raised or returned
NaN there; so does a holdout of fewer than two rows, which scipy refuses. The gate then keeps the champion.

**Fallback.** A metric without a fast path here (added later, an average this module does not know, inputs of a
kind it does not handle), or a fast path that does not reproduce :meth:`Metric.score` on the full holdout, falls
back to calling :meth:`Metric.score` on every resample's rows, on the same resamples. Correctness never depends on
the fast path.

Memory is O(rows): resamples are drawn ``max(1, _DRAWS_PER_BATCH // n)`` at a time (scipy's old batch) and
counted ``max(1, _COUNTS_PER_CHUNK // n)`` at a time: a 2M-row holdout peaked at about 100 MB (binary roc_auc,
rmse) and 200 MB (three-class roc_auc) in the benchmark.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from retrain_platform.promotion.metrics import METRICS, Metric, sort_labels

_log = logging.getLogger(__name__)

# Drawn row indices per batch of resamples: the batch the scipy-based gate used (4M resampled values over three
# arrays), so that a seed draws the same resamples as it did (10 MB of indices at a time).
_DRAWS_PER_BATCH = 1_333_333
# Row counts per chunk of resamples computed at once: a chunk's working arrays then stay in a core's L2 cache
# (about 1 MB here), which measured up to 1.5x faster than computing a whole batch at once.
_COUNTS_PER_CHUNK = 131_072

# Draw counts and their running sums are int32 (half the memory traffic of int64); a pair sum is at most 2 n.
_MAX_ROWS = 2**30

# How close the fast path must come to Metric.score on the full holdout to be trusted for the resamples.
_SELF_CHECK_TOLERANCE = 1e-9


def gain_interval(
    metric: Metric,
    y_true: np.ndarray,
    candidate_pred: np.ndarray,
    champion_pred: np.ndarray,
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
    scores: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """The paired percentile bootstrap interval of the candidate's gain over the champion at ``confidence``.

    ``scores`` are the two models' :meth:`Metric.score` on the full holdout when the caller has them already (they
    check the fast path). Returns ``(nan, nan)`` when the metric is undefined on any resample.
    """
    y_true, candidate_pred, champion_pred = (np.asarray(a) for a in (y_true, candidate_pred, champion_pred))
    if len(y_true) < 2:
        return math.nan, math.nan  # every resample of one row is that row: no spread to measure (scipy refuses it)
    statistic = paired_statistic(metric, y_true, candidate_pred, champion_pred, scores)
    gains = []
    # The products here are small and many: a second BLAS thread only spins, and takes the core from the rest.
    with threadpool_limits(limits=1, user_api="blas"):
        for resamples in draw_resamples(len(y_true), n_resamples, np.random.default_rng(seed)):
            gains.append(statistic(resamples))
            if np.isnan(gains[-1]).any():
                return math.nan, math.nan  # the interval is undefined whatever the other resamples give
    return percentile_interval(np.concatenate(gains), confidence)


def draw_resamples(n_rows: int, n_resamples: int, rng: np.random.Generator) -> Iterator[Resamples]:
    """``n_resamples`` bootstrap resamples of ``n_rows`` rows, drawn as ``scipy.stats.bootstrap`` draws them.

    Rows are drawn a batch of resamples at a time (the random stream depends on the batch size), and handed out
    in smaller chunks that the per-resample arithmetic can keep in cache.
    """
    batch = max(1, _DRAWS_PER_BATCH // max(n_rows, 1))
    chunk = max(1, _COUNTS_PER_CHUNK // max(n_rows, 1))
    for start in range(0, n_resamples, batch):
        rows = rng.integers(0, n_rows, size=(min(batch, n_resamples - start), n_rows))
        for first in range(0, len(rows), chunk):
            yield Resamples(rows[first : first + chunk])


def percentile_interval(gains: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of ``gains``: linearly interpolated quantiles, as scipy's percentile."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return float(low), float(high)


class Resamples:
    """One chunk of bootstrap resamples: ``rows[b]`` are the row indices drawn for resample ``b``."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self._laid_out: dict[int, np.ndarray] = {}

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> Resamples:
        """The resamples in which row ``i`` is drawn ``counts[b, i]`` times (each row of ``counts`` sums to n)."""
        counts = np.atleast_2d(counts)
        return cls(np.stack([np.repeat(np.arange(counts.shape[1]), row) for row in counts]))

    @property
    def n_rows(self) -> int:
        """Rows in each resample (the holdout's size)."""
        return self.rows.shape[1]

    @cached_property
    def counts(self) -> np.ndarray:
        """How often each row is drawn in each resample (resamples × rows; int32, which any count fits)."""
        counts = np.empty(self.rows.shape, dtype=np.int32)  # half of int64's memory traffic in every later pass
        for b, row in enumerate(self.rows):  # one bincount per resample keeps its counts in cache at any n
            counts[b] = np.bincount(row, minlength=self.n_rows)
        return counts

    def counts_in(self, order: np.ndarray) -> np.ndarray:
        """:attr:`counts` with columns taken in ``order`` (row indices), computed once per order."""
        if id(order) not in self._laid_out:
            self._laid_out[id(order)] = np.take(self.counts, order, axis=1)
        return self._laid_out[id(order)]

    @cached_property
    def weights(self) -> np.ndarray:
        """:attr:`counts` as float64, ready for a matrix product with per-row terms."""
        return self.counts.astype(np.float64)


class Scorer(Protocol):
    """A metric of one model's predictions, computed for every resample of a chunk."""

    def scores(self, resamples: Resamples) -> np.ndarray:
        """The metric on each resample (NaN where it is undefined)."""
        ...


Statistic = Callable[[Resamples], np.ndarray]


def paired_statistic(
    metric: Metric,
    y_true: np.ndarray,
    candidate_pred: np.ndarray,
    champion_pred: np.ndarray,
    scores: tuple[float, float] | None = None,
) -> Statistic:
    """Each resample's gain of the candidate over the champion: the fast path if it applies, else scikit-learn's."""
    scorers = [fast_scorer(metric, y_true, p) for p in (candidate_pred, champion_pred)]
    if all(s is not None for s in scorers):
        whole = Resamples(np.arange(len(y_true))[None, :])
        expected = scores or tuple(metric.score(y_true, p) for p in (candidate_pred, champion_pred))
        found = tuple(float(s.scores(whole)[0]) for s in scorers)
        if all(_same(f, e) for f, e in zip(found, expected, strict=True)):
            candidate, champion = scorers
            return lambda resamples: metric.gain(candidate.scores(resamples), champion.scores(resamples))
        _log.warning(
            "the fast bootstrap of %s gives %s on the full holdout where scikit-learn gives %s; "
            "using scikit-learn on every resample",
            metric.name,
            found,
            expected,
        )
    return exact_statistic(metric, y_true, candidate_pred, champion_pred)


def _same(found: float, expected: float) -> bool:
    if math.isnan(expected) or math.isnan(found):
        return math.isnan(expected) and math.isnan(found)
    return math.isclose(found, expected, rel_tol=_SELF_CHECK_TOLERANCE, abs_tol=_SELF_CHECK_TOLERANCE)


def exact_statistic(
    metric: Metric, y_true: np.ndarray, candidate_pred: np.ndarray, champion_pred: np.ndarray
) -> Statistic:
    """Each resample's gain from :meth:`Metric.score` on the resampled rows (the reference, and the fallback)."""

    def gain(rows: np.ndarray) -> float:
        try:
            return metric.gain(
                metric.score(y_true[rows], candidate_pred[rows]), metric.score(y_true[rows], champion_pred[rows])
            )
        except ValueError:  # e.g. a single class in the resample: the metric is undefined there
            return math.nan

    def statistic(resamples: Resamples) -> np.ndarray:
        # Arguments were validated on the full holdout; scikit-learn's per-call validation would be half the time.
        with sklearn.config_context(skip_parameter_validation=True):
            return np.array([gain(rows) for rows in resamples.rows], dtype=np.float64)

    return statistic


def fast_scorer(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """A scorer equal to ``metric.score`` on every resample, or None when this module cannot compute it directly.

    Only the functions of :data:`METRICS` are recognised (by identity, so a metric redefined under a known name
    is not mistaken for it).
    """
    known = METRICS.get(metric.name)
    build = _BUILDERS.get(metric.name)
    if known is None or build is None or metric.fn is not known.fn:
        return None
    y_true, prediction = np.asarray(y_true), np.asarray(prediction)
    if y_true.ndim != 1 or len(prediction) != len(y_true) or not 0 < len(y_true) < _MAX_ROWS:
        return None
    return build(metric, y_true, prediction)


# --------------------------------------------------------------------------------------------------
# metrics that are weighted sums of per-row terms
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RowSums:
    """A metric computed from the draw-weighted sums of per-row terms (one column per term)."""

    terms: np.ndarray
    finish: Callable[[np.ndarray, int], np.ndarray]

    def scores(self, resamples: Resamples) -> np.ndarray:
        """``finish`` of each resample's weighted term sums and its row count."""
        return self.finish(resamples.weights @ self.terms, resamples.n_rows)


@dataclass(frozen=True)
class _R2:
    """r2 from weighted sums of the squared error and of the target (centred on its holdout mean, for precision)."""

    terms: np.ndarray
    y: np.ndarray

    def scores(self, resamples: Resamples) -> np.ndarray:
        """1 - SSE / SST per resample, with scikit-learn's finite values where SST is 0."""
        n = resamples.n_rows
        if n < 2:
            return np.full(len(resamples.rows), np.nan)
        sums = resamples.weights @ self.terms
        sse, sst = sums[:, 0], sums[:, 2] - sums[:, 1] ** 2 / n
        # A constant target's SST is 0 by definition; computed, it would be rounding noise.
        drawn = self.y[resamples.rows]
        sst[drawn.min(axis=1) == drawn.max(axis=1)] = 0.0
        r2 = np.ones(len(sse))  # a perfect prediction, even of a constant
        defined = (sse != 0) & (sst != 0)
        r2[defined] = 1 - sse[defined] / sst[defined]
        r2[(sse != 0) & (sst == 0)] = 0.0
        return r2


def _mean_of(terms: np.ndarray, transform: Callable[[np.ndarray], np.ndarray] = lambda m: m) -> _RowSums:
    return _RowSums(terms[:, None], lambda sums, n: transform(sums[:, 0] / n))


def _as_float64(values: np.ndarray) -> np.ndarray | None:
    """``values`` as float64, or None when scikit-learn would not compute in float64 (or they are not numbers)."""
    if values.dtype.kind not in "biuf" or (values.dtype.kind == "f" and values.itemsize != 8):
        return None
    return values.astype(np.float64, copy=False)


def _regression(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """rmse, mae, mape or r2 of one numeric prediction column."""
    y, p = _as_float64(y_true), _as_float64(prediction)
    if y is None or p is None or p.ndim != 1:
        return None
    if metric.name == "rmse":
        return _mean_of((y - p) ** 2, np.sqrt)
    if metric.name == "mae":
        return _mean_of(np.abs(p - y))
    if metric.name == "mape":
        return _mean_of(np.abs(p - y) / np.maximum(np.abs(y), np.finfo(np.float64).eps))
    centred = y - y.mean()
    return _R2(np.column_stack([(y - p) ** 2, centred, centred**2]), y)


# --------------------------------------------------------------------------------------------------
# metrics of predicted labels: weighted confusion counts
# --------------------------------------------------------------------------------------------------


def _codes(values: np.ndarray, labels: Sequence) -> np.ndarray | None:
    """Each value's position in ``labels``; None if one is not a label (or the values cannot be ordered)."""
    if values.ndim != 1:
        return None
    try:
        distinct, inverse = np.unique(values, return_inverse=True)
    except TypeError:
        return None
    position = {label: i for i, label in enumerate(labels)}
    lookup = [position.get(v.item() if isinstance(v, np.generic) else v, -1) for v in distinct]
    if -1 in lookup:
        return None
    return np.asarray(lookup, dtype=np.intp)[inverse]


def _present_labels(*arrays: np.ndarray) -> tuple | None:
    """The distinct values of ``arrays`` in scikit-learn's order (None if they cannot be ordered)."""
    try:
        return sort_labels([v for a in arrays for v in np.unique(a)])
    except TypeError:
        return None


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    return (codes[:, None] == np.arange(k)).astype(np.float64)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(
        numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=denominator != 0
    )


def _confusion_sums(true_codes: np.ndarray, pred_codes: np.ndarray, k: int) -> np.ndarray:
    """Per-row terms whose weighted sums are, per class: rows of that class, rows predicted it, rows right on it."""
    truth = _one_hot(true_codes, k)
    return np.hstack([truth, _one_hot(pred_codes, k), truth * (true_codes == pred_codes)[:, None]])


def _per_class(name: str, true: np.ndarray, predicted: np.ndarray, right: np.ndarray) -> np.ndarray:
    if name == "precision":
        return _divide(right, predicted)
    if name == "recall":
        return _divide(right, true)
    return _divide(2 * right, true + predicted)  # f1 = 2 TP / (2 TP + FP + FN)


def _average_classes(name: str, average: str, sums: np.ndarray, k: int, positive: int | None) -> np.ndarray:
    true, predicted, right = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
    if average == "binary":
        return _per_class(name, true[:, positive], predicted[:, positive], right[:, positive])
    if average == "micro":
        return _per_class(name, true.sum(axis=1), predicted.sum(axis=1), right.sum(axis=1))
    values = _per_class(name, true, predicted, right)
    if average == "weighted":
        return _divide((values * true).sum(axis=1), true.sum(axis=1))
    drawn = (true + predicted) > 0  # macro: a class with no draw in this resample is absent from it
    return (values * drawn).sum(axis=1) / drawn.sum(axis=1)


def _averaged_label_metric(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """f1, precision or recall with ``metrics._label_metric``'s average, positive class and class rule."""
    average = metric.average or "binary"
    if average not in ("binary", "micro", "macro", "weighted") or (metric.labels is None and average != "binary"):
        return None
    labels = metric.labels if metric.labels is not None else _present_labels(y_true, prediction)
    positive_label = metric.labels[-1] if metric.labels is not None else 1  # scikit-learn's default pos_label
    if labels is None or (average == "binary" and (positive_label not in labels or len(labels) > 2)):
        return None
    true_codes, pred_codes = _codes(y_true, labels), _codes(prediction, labels)
    if true_codes is None or pred_codes is None:
        return None
    k, positive = len(labels), list(labels).index(positive_label) if average == "binary" else None
    return _RowSums(
        _confusion_sums(true_codes, pred_codes, k),
        lambda sums, n: _average_classes(metric.name, average, sums, k, positive),
    )


def _plain_label_metric(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """accuracy or balanced accuracy over the labels the target and the predictions hold."""
    labels = _present_labels(y_true, prediction)  # accuracy and balanced accuracy ignore the metric's labels
    if labels is None:
        return None
    true_codes, pred_codes = _codes(y_true, labels), _codes(prediction, labels)
    if true_codes is None or pred_codes is None:
        return None
    if metric.name == "accuracy":
        return _mean_of((true_codes == pred_codes).astype(np.float64))
    k = len(labels)

    def balanced(sums: np.ndarray, n: int) -> np.ndarray:
        true, right = sums[:, :k], sums[:, 2 * k :]
        drawn = true > 0  # recall is averaged over the classes of the target drawn in the resample
        return (_divide(right, true) * drawn).sum(axis=1) / drawn.sum(axis=1)

    return _RowSums(_confusion_sums(true_codes, pred_codes, k), balanced)


# --------------------------------------------------------------------------------------------------
# log loss
# --------------------------------------------------------------------------------------------------


def _log_loss(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """Log loss of probabilities clipped as scikit-learn clips them, columns in the metric's label order."""
    proba = _as_float64(prediction)
    if proba is None or proba.ndim > 2:
        return None
    proba = np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba
    labels = metric.labels if metric.labels is not None else _present_labels(y_true)
    if labels is None or len(labels) != proba.shape[1] or len(labels) < 2:
        return None
    codes = _codes(y_true, labels)
    if codes is None:
        return None
    eps = np.finfo(np.float64).eps
    loss = -np.log(np.clip(proba, eps, 1 - eps)[np.arange(len(codes)), codes])
    if metric.labels is not None:
        return _mean_of(loss)
    # Unlabelled, scikit-learn takes the classes from the resample's target: a missing class is an error there.
    k = len(labels)

    def mean_if_every_class_drawn(sums: np.ndarray, n: int) -> np.ndarray:
        return np.where((sums[:, 1:] > 0).all(axis=1), sums[:, 0] / n, np.nan)

    return _RowSums(np.column_stack([loss, _one_hot(codes, k)]), mean_if_every_class_drawn)


# --------------------------------------------------------------------------------------------------
# ROC AUC: weighted Mann–Whitney from one sort
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairCounts:
    """Counts, per resample, the (positive, negative) pairs a score column ranks right, ties counting one half.

    Rows are laid out (``order``) with the larger class ("inner") first and the smaller ("outer") after it, each
    sorted by score, so that one cumulative sum over a resample's inner counts tells, for every outer row, how many
    drawn inner rows score below it (at ``below``) and no higher than it (at ``upto``). Twice the pairs an outer
    row wins is then the sum of the two, a tie counting one half.
    """

    order: np.ndarray
    n_inner: int
    below: np.ndarray
    upto: np.ndarray | None  # None: no outer score equals an inner one
    outer_is_positive: bool

    @classmethod
    def build(cls, score: np.ndarray, positive: np.ndarray) -> _PairCounts | None:
        """The layout for ``score`` against the boolean ``positive``; None if the holdout lacks one class."""
        n_pos = int(positive.sum())
        if n_pos in (0, len(positive)):
            return None
        outer_is_positive = n_pos <= len(positive) - n_pos
        outer_mask = positive if outer_is_positive else ~positive
        inner, outer = np.flatnonzero(~outer_mask), np.flatnonzero(outer_mask)
        inner = inner[np.argsort(score[inner], kind="stable")]
        outer = outer[np.argsort(score[outer], kind="stable")]
        below = np.searchsorted(score[inner], score[outer], side="left")
        upto = np.searchsorted(score[inner], score[outer], side="right")
        tied = not np.array_equal(below, upto)
        return cls(np.concatenate([inner, outer]), len(inner), below, upto if tied else None, outer_is_positive)

    def auc(self, resamples: Resamples) -> tuple[np.ndarray, np.ndarray]:
        """Each resample's AUC (NaN with a single class drawn) and its count of drawn positives."""
        counts = resamples.counts_in(self.order)
        cumulative = np.empty((len(counts), self.n_inner + 1), dtype=np.int32)  # counts and their sums <= n
        cumulative[:, 0] = 0
        np.cumsum(counts[:, : self.n_inner], axis=1, dtype=np.int32, out=cumulative[:, 1:])
        outer = counts[:, self.n_inner :]
        won = np.take(cumulative, self.below, axis=1)
        won = 2 * won if self.upto is None else won + np.take(cumulative, self.upto, axis=1)
        twice_pairs = np.einsum("ij,ij->i", outer, won, dtype=np.int64)  # up to 2 n^2: int64, exact
        n_outer = outer.sum(axis=1, dtype=np.int64)
        n_inner = resamples.n_rows - n_outer
        with np.errstate(invalid="ignore", divide="ignore"):
            share = twice_pairs / (2.0 * n_outer * n_inner)
        # With the negatives outside, the pairs counted are those ranked wrong (ties still one half).
        auc = share if self.outer_is_positive else 1 - share
        return auc, (n_outer if self.outer_is_positive else n_inner)


@dataclass(frozen=True)
class _BinaryAuc:
    """ROC AUC of one positive-class score column."""

    pairs: _PairCounts | None

    def scores(self, resamples: Resamples) -> np.ndarray:
        """The AUC of each resample (NaN when it draws one class only)."""
        if self.pairs is None:
            return np.full(len(resamples.rows), np.nan)
        return self.pairs.auc(resamples)[0]


@dataclass(frozen=True)
class _OneVsRestAuc:
    """One-vs-rest ROC AUC averaged over the classes drawn in each resample, as ``metrics._roc_auc``."""

    classes: tuple[_PairCounts | None, ...]
    weighted: bool

    def scores(self, resamples: Resamples) -> np.ndarray:
        """The average AUC of each resample (NaN when no class is both drawn and not the only one drawn)."""
        n = resamples.n_rows
        aucs = np.zeros((len(resamples.rows), len(self.classes)))
        positives = np.zeros_like(aucs)
        for k, pairs in enumerate(self.classes):
            if pairs is not None:
                aucs[:, k], positives[:, k] = pairs.auc(resamples)
        counted = (positives > 0) & (positives < n)
        weights = np.where(counted, positives if self.weighted else 1.0, 0.0)
        with np.errstate(invalid="ignore"):
            return (np.where(counted, aucs, 0.0) * weights).sum(axis=1) / weights.sum(axis=1)


def _roc_auc(metric: Metric, y_true: np.ndarray, prediction: np.ndarray) -> Scorer | None:
    """Binary AUC of a positive-class column, or one-vs-rest AUC of one column per label."""
    if prediction.dtype.kind not in "biuf":
        return None
    if prediction.ndim == 1:
        if metric.labels is not None:
            positive = y_true == metric.labels[-1]
        else:
            present = _present_labels(y_true)
            if present is None or len(present) > 2:
                return None
            positive = y_true == present[-1]
        return _BinaryAuc(_PairCounts.build(prediction, np.asarray(positive, dtype=bool)))
    if metric.labels is None or prediction.ndim != 2 or prediction.shape[1] != len(metric.labels):
        return None
    classes = tuple(
        _PairCounts.build(prediction[:, k], np.asarray(y_true == label, dtype=bool))
        for k, label in enumerate(metric.labels)
    )
    return _OneVsRestAuc(classes, weighted=metric.average == "weighted")


_BUILDERS: dict[str, Callable[[Metric, np.ndarray, np.ndarray], Scorer | None]] = {
    "rmse": _regression,
    "mae": _regression,
    "mape": _regression,
    "r2": _regression,
    "accuracy": _plain_label_metric,
    "balanced_accuracy": _plain_label_metric,
    "f1": _averaged_label_metric,
    "precision": _averaged_label_metric,
    "recall": _averaged_label_metric,
    "log_loss": _log_loss,
    "roc_auc": _roc_auc,
}
