"""The prediction log: every answered row, written to the lake by a background thread, never on the request path.

A request hands its entry (inputs, answers, version, request id, time) to :meth:`PredictionLog.offer`, which only
appends to a bounded in-memory buffer: when the buffer already holds ``capacity_rows`` rows the entry is dropped
and counted (``retrain_serve_prediction_log_dropped{reason="buffer_full"}``), so a slow or full disk never slows
an answer. The writer thread flushes when ``flush_rows`` rows are waiting or ``flush_seconds`` have passed,
one Parquet part file per model and UTC day (:meth:`~retrain_platform.storage.lake.Lake.write_predictions`,
atomic). :meth:`close` writes everything still buffered: a clean stop loses nothing.

Each record holds the feature columns, typed as validation types them, plus ``_request_id``, ``_row`` (the row's
position in its request), ``_time`` (UTC, when the request arrived), ``_version`` and the answer:
``_prediction`` (positive-class probability or regression value), or one ``_prediction_<label>`` per class.
With shadow scoring on (``retrain serve --shadow``) the waiting challenger's answers to the same rows follow, as
``_shadow_version`` and ``_shadow_prediction``; they are computed by the writer thread, off the request path.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from retrain_platform.serving.inputs import typed_frame
from retrain_platform.serving.loaded import LoadedModel
from retrain_platform.serving.metrics import ServeMetrics
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogEntry:
    """One answered request, as the request path hands it over (no copying, no formatting)."""

    model: str
    version: str
    request_id: str
    time: dt.datetime
    columns: dict[str, list]
    answers: np.ndarray
    labels: tuple | None

    @property
    def rows(self) -> int:
        """How many records this entry becomes."""
        return len(self.answers)


def _answer_columns(answers: np.ndarray, labels: tuple | None, prefix: str = "_prediction") -> dict[str, np.ndarray]:
    if answers.ndim == 1:
        return {prefix: answers}
    return {f"{prefix}_{label}": answers[:, j] for j, label in enumerate(labels)}


def entries_table(entries: list[LogEntry], spec: ModelSpec, shadow: LoadedModel | None = None) -> pa.Table:
    """The records of one model's entries as one Arrow table (inputs typed as validation types them).

    With ``shadow`` (a waiting challenger), its answers to the same rows are added as ``_shadow_version`` and
    ``_shadow_prediction`` (or ``_shadow_prediction_<label>``); a shadow that fails to answer is logged and left
    out, never costing the records.
    """
    columns = {name: list(itertools.chain.from_iterable(e.columns[name] for e in entries)) for name in spec.features}
    frame = typed_frame(columns, spec)
    meta = pd.DataFrame(
        {
            "_request_id": list(itertools.chain.from_iterable([e.request_id] * e.rows for e in entries)),
            "_row": np.concatenate([np.arange(e.rows) for e in entries]),
            "_time": pd.to_datetime(list(itertools.chain.from_iterable([e.time] * e.rows for e in entries)), utc=True),
            "_version": list(itertools.chain.from_iterable([e.version] * e.rows for e in entries)),
        }
    )
    # Versions of a model without listed categories may answer different labels: concat fills the gaps with NaN.
    answers = pd.concat([pd.DataFrame(_answer_columns(e.answers, e.labels)) for e in entries], ignore_index=True)
    parts = [frame, meta, answers]
    if shadow is not None:
        try:
            shadowed = shadow.predict(frame)
        except Exception as err:  # the champion's records matter more than the challenger's answers
            _log.error("prediction log: shadow v%s of %s failed to answer: %s", shadow.version, spec.name, err)
        else:
            parts.append(pd.DataFrame({"_shadow_version": [shadow.version] * len(frame)}))
            parts.append(pd.DataFrame(_answer_columns(shadowed, shadow.labels, "_shadow_prediction")))
    return pa.Table.from_pandas(pd.concat(parts, axis=1), preserve_index=False)


class PredictionLog:
    """A bounded buffer of answered requests and the thread that writes them to the lake."""

    def __init__(
        self,
        lake: Lake,
        specs: dict[str, ModelSpec],
        metrics: ServeMetrics,
        *,
        capacity_rows: int,
        flush_rows: int,
        flush_seconds: float,
        shadow: Callable[[str], LoadedModel | None] | None = None,
    ):
        self.lake = lake
        # Shadow answers are computed here, in the writer thread: a request never waits for the challenger.
        self._shadow = shadow
        self.specs = specs
        self.metrics = metrics
        self.capacity_rows = capacity_rows
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._entries: list[LogEntry] = []
        self._rows = 0
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._parts = itertools.count()
        # Read when Prometheus scrapes rather than set on every request: the count already lives here.
        metrics.log_buffered.set_function(lambda: self._rows)

    @property
    def buffered_rows(self) -> int:
        """Rows waiting to be written."""
        return self._rows

    def offer(self, entry: LogEntry) -> bool:
        """Buffer ``entry`` unless that would exceed the capacity (then it is dropped and counted); never blocks
        on disk. Returns whether it was kept."""
        with self._wake:
            if self._closing or self._rows + entry.rows > self.capacity_rows:
                kept = False
            else:
                self._entries.append(entry)
                self._rows += entry.rows
                kept = True
                if self._rows >= self.flush_rows:
                    self._wake.notify()
        if not kept:
            self.metrics.log_dropped.labels(entry.model, "buffer_full").inc(entry.rows)
        return kept

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_seconds
        while True:
            with self._wake:
                while not self._closing and self._rows < self.flush_rows and time.monotonic() < deadline:
                    self._wake.wait(max(0.0, deadline - time.monotonic()))
                closing = self._closing
            self.flush()
            deadline = time.monotonic() + self.flush_seconds
            if closing:
                return

    def _take(self) -> list[LogEntry]:
        with self._wake:
            entries, self._entries, self._rows = self._entries, [], 0
        return entries

    def flush(self) -> int:
        """Write every buffered entry now (one part file per model and day); returns the records written.

        A part that fails to write (a full or read-only disk) is logged and its records counted as dropped with
        ``reason="write_failed"``; the log carries on with the next flush.
        """
        entries = self._take()
        groups: dict[tuple[str, str], list[LogEntry]] = {}
        for entry in entries:
            groups.setdefault((entry.model, entry.time.astimezone(dt.UTC).date().isoformat()), []).append(entry)
        written = 0
        for (model, day), group in groups.items():
            rows = sum(e.rows for e in group)
            part = f"{time.time_ns()}-{os.getpid()}-{next(self._parts)}"
            try:
                shadow = self._shadow(model) if self._shadow is not None else None
                self.lake.write_predictions(model, day, entries_table(group, self.specs[model], shadow), part)
            except Exception as err:  # the log must never take the service down; what was lost is counted
                self.metrics.log_dropped.labels(model, "write_failed").inc(rows)
                _log.error("prediction log: %d record(s) of %s on %s lost: %s", rows, model, day, err)
                continue
            self.metrics.log_written.labels(model).inc(rows)
            written += rows
        return written

    def close(self) -> None:
        """Stop accepting entries, write everything buffered and stop the writer (a clean shutdown's last step)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self.flush()
