"""Drift reports over HTTP: the evidently pages the ``drift_report`` asset writes to the lake, one click from the UI.

The asset links each page as ``RETRAIN_SERVE_URL`` + ``/reports/<model>/drift/<day>``; this is what answers it.
``GET /reports/{model}/drift`` lists a model's days (JSON, newest first) and ``GET /reports/{model}/drift/{day}``
answers the page. Only a model this process serves and a real day spelled ``YYYY-MM-DD`` are looked up, and the
lake opens the page without following a symbolic link anywhere below ``RETRAIN_HOME``
(:meth:`~retrain_platform.storage.lake.Lake.open_report`), so neither a crafted URL nor a link planted in
``reports/`` makes the server answer another file. The routes are plain functions, which FastAPI runs on its
thread pool: reading a 5 MB page never holds up the event loop that answers predictions.

The pages show the distributions of the data, so by default they are served only when the process listens on
loopback (:attr:`~retrain_platform.serving.config.ServeConfig.serves_reports`); elsewhere the routes answer a 404
saying why and how to turn them on.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from retrain_platform.settings import DRIFT_REPORT_ROUTE, DRIFT_REPORTS_ROUTE
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake, UnsafePath

_log = logging.getLogger(__name__)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A page is rewritten when its partition is re-run (a corrected landing, a new champion): always revalidate.
_PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _refusal(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _valid_day(partition: str) -> bool:
    if not _DAY.fullmatch(partition):
        return False
    try:
        dt.date.fromisoformat(partition)
    except ValueError:
        return False
    return True


def add_report_routes(app: FastAPI, specs: Mapping[str, ModelSpec], lake: Lake) -> None:
    """Serve the drift reports of ``specs`` from ``lake`` on ``app``."""

    def unknown(model: str) -> JSONResponse:
        return _refusal(404, f"no model {model!r} is served here; served: {sorted(specs)}")

    @app.get(DRIFT_REPORTS_ROUTE)
    def drift_reports(model: str) -> Response:
        if model not in specs:
            return unknown(model)
        try:
            days = lake.report_partitions(model)
        except UnsafePath as err:
            _log.warning("refused to list the drift reports of %s: %s", model, err)
            return _refusal(403, f"refused to list the drift reports of {model}: {err}")
        body = {
            "model": model,
            "reports": [
                {"partition": day, "url": DRIFT_REPORT_ROUTE.format(model=model, partition=day)}
                for day in reversed(days)
            ],
        }
        if not days:
            body["detail"] = _why_none(specs[model])
        return JSONResponse(body)

    @app.get(DRIFT_REPORT_ROUTE)
    def drift_report(model: str, partition: str) -> Response:
        if model not in specs:
            return unknown(model)
        if not _valid_day(partition):
            return _refusal(400, f"partition must be a day spelled YYYY-MM-DD, e.g. 2026-01-31; got {partition!r}")
        name = lake.report_file(model, partition)
        try:
            with lake.open_report(model, partition) as handle:
                page = handle.read()
        except FileNotFoundError:
            days = DRIFT_REPORTS_ROUTE.format(model=model)
            detail = f"no drift report for {model} on {partition}: {_why_none(specs[model])}; the days with one: {days}"
            return _refusal(404, detail)
        except UnsafePath as err:
            _log.warning("refused to serve %s: %s", name, err)
            return _refusal(403, f"refused to serve {name}: {err}")
        except OSError as err:
            _log.warning("could not read %s: %s", name, err)
            return _refusal(500, f"could not read {name} in RETRAIN_HOME: {err.strerror or err}")
        return Response(page, media_type="text/html", headers=_PAGE_HEADERS)


def add_refused_report_routes(app: FastAPI, reason: str) -> None:
    """Answer the report routes with a 404 saying why this process does not serve reports."""

    @app.get(DRIFT_REPORTS_ROUTE)
    def drift_reports(model: str) -> Response:
        return _refusal(404, reason)

    @app.get(DRIFT_REPORT_ROUTE)
    def drift_report(model: str, partition: str) -> Response:
        return _refusal(404, reason)


def _why_none(spec: ModelSpec) -> str:
    return (
        "the drift_report asset writes one per partition once the model has a champion, as drift.report.when "
        f"allows (this spec: {spec.drift.report.when!r})"
    )
