"""Answering prediction requests: check, batch, predict, record; the HTTP layer (:mod:`.app`) only translates.

A model call has a fixed cost (a scikit-learn pipeline on a pandas frame: 3 to 4 ms on the test spec whether it
gets one row or a hundred) that dwarfs the HTTP work of a small request. Requests for the same model that arrive
while a call runs are therefore answered together by the next call (up to ``max_batch_rows`` rows): a request
alone is answered at once, and under load the fixed cost is shared.

Calls run on the event loop itself. A model call is mostly Python (scikit-learn's input checks), so a worker
thread bought no parallelism, only GIL hand-offs: measured on two cores with eight connections, 343 single-row
requests/s through a worker thread against 561 inline. Requests that arrive during a call wait in the socket and
are read right after it. Each call reads the serving version once, so every request in it is answered by one
complete version. A call that fails is retried request by request, so a request the model cannot answer never
fails the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from retrain_platform.serving.config import ServeConfig
from retrain_platform.serving.follower import ChampionFollower
from retrain_platform.serving.inputs import CheckedRows, Problem, RequestChecker, model_frame
from retrain_platform.serving.loaded import LoadedModel
from retrain_platform.serving.metrics import ServeMetrics
from retrain_platform.serving.prediction_log import LogEntry, PredictionLog

_log = logging.getLogger(__name__)


class UnknownModel(LookupError):
    """The request names a model this process does not serve."""


class NotReady(RuntimeError):
    """The model is served but no champion has loaded yet."""


@dataclass(frozen=True)
class Answer:
    """What one request gets back."""

    model: str
    version: str
    request_id: str
    predictions: list
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The JSON body of a 200 answer."""
        body = {"model": self.model, "version": self.version, "request_id": self.request_id}
        body["predictions"] = self.predictions
        if self.warnings:
            body["warnings"] = [w.as_dict() for w in self.warnings]
        return body


@dataclass
class _Pending:
    checked: CheckedRows
    future: asyncio.Future


def _merged(batch: list[_Pending], names) -> dict[str, list]:
    if len(batch) == 1:
        return batch[0].checked.columns
    return {name: [v for p in batch for v in p.checked.columns[name]] for name in names}


class PredictionService:
    """The served models, their follower, metrics and prediction log, behind one ``predict`` call."""

    def __init__(
        self,
        follower: ChampionFollower,
        log: PredictionLog,
        metrics: ServeMetrics,
        config: ServeConfig,
    ):
        self.follower = follower
        self.specs = follower.specs
        self.log = log
        self.lake = log.lake  # where the prediction log writes, and the drift reports are read
        self.metrics = metrics
        self.config = config
        self.checkers = {name: RequestChecker(spec) for name, spec in self.specs.items()}
        self._pending: dict[str, deque[_Pending]] = {name: deque() for name in self.specs}
        self._draining: set[str] = set()

    def start(self) -> None:
        """Load every champion once (a model without one is simply not ready), then start the poller and the log."""
        self.follower.refresh_all()
        self.follower.start()
        self.log.start()

    def stop(self) -> None:
        """Stop following the alias and write the rest of the prediction log (after the last request is answered)."""
        self.follower.stop()
        self.log.close()

    async def predict(self, name: str, body: object, request_id: str, arrived: dt.datetime) -> Answer:
        """Answer one decoded JSON body for ``name``; raises :class:`UnknownModel`, :class:`NotReady` or
        :class:`~retrain_platform.serving.inputs.InputError`."""
        checker = self.checkers.get(name)
        if checker is None:
            raise UnknownModel(name)
        checked = checker.check(body, self.config.max_rows)
        if self.follower.current(name) is None:
            raise NotReady(name)
        pending = _Pending(checked, asyncio.get_running_loop().create_future())
        self._pending[name].append(pending)
        if name not in self._draining:
            self._draining.add(name)
            asyncio.get_running_loop().create_task(self._drain(name))
        model, values = await pending.future
        self.metrics.rows.labels(name).inc(checked.rows)
        self.metrics.answered(name, model.kind, model.labels, values)
        self.log.offer(LogEntry(name, model.version, request_id, arrived, checked.columns, values, model.labels))
        return Answer(name, model.version, request_id, model.answers(values), checked.warnings)

    async def _drain(self, name: str) -> None:
        queue = self._pending[name]
        try:
            while queue:
                # Let the requests already read reach the queue first, so they share this call.
                await asyncio.sleep(0)
                batch, rows = [], 0
                while queue and (not batch or rows + queue[0].checked.rows <= self.config.max_batch_rows):
                    rows += queue[0].checked.rows
                    batch.append(queue.popleft())
                model = self.follower.current(name)  # read once: the whole call is answered by this version
                results = self._call(model, batch)
                for pending, result in zip(batch, results, strict=True):
                    if pending.future.done():
                        continue
                    if isinstance(result, BaseException):
                        pending.future.set_exception(result)
                    else:
                        pending.future.set_result((model, result))
        finally:
            self._draining.discard(name)

    def _call(self, model: LoadedModel, batch: list[_Pending]) -> list:
        """Predict a batch in one model call; on failure, each request alone. Never raises: a request the model
        cannot answer gets its exception in the list."""
        self.metrics.batch_rows.observe(sum(p.checked.rows for p in batch))
        names = list(model.spec.features)
        try:
            values = model.predict(model_frame(_merged(batch, names), model.spec))
        except Exception:
            return [self._alone(model, p) for p in batch]
        bounds = np.cumsum([0] + [p.checked.rows for p in batch])
        return [values[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]

    def _alone(self, model: LoadedModel, pending: _Pending):
        try:
            return model.predict(model_frame(pending.checked.columns, model.spec))
        except Exception as err:
            _log.exception("%s v%s failed to answer a request", model.spec.name, model.version)
            return err
