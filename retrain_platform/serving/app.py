"""The HTTP face of :class:`~retrain_platform.serving.service.PredictionService` (FastAPI).

Routes: ``POST /v1/models/{name}/predict``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``, and the drift
reports of the lake (:mod:`.reports`: ``GET /reports/{model}/drift[/{day}]``). Bodies are read
and decoded here rather than through a pydantic model, so a bad request gets the checker's messages (which column,
what is wrong, what to send) instead of a generic validation error. Starting and stopping the service is tied to
the app's lifespan: uvicorn runs the shutdown half on SIGTERM or SIGINT after the requests in flight are answered,
which is when the prediction log writes what it still holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import Response

from retrain_platform.serving.inputs import InputError, Problem
from retrain_platform.serving.metrics import UNKNOWN_MODEL
from retrain_platform.serving.reports import add_refused_report_routes, add_report_routes
from retrain_platform.serving.service import NotReady, PredictionService, UnknownModel

_log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
_MAX_REQUEST_ID = 128


def _json(body: dict, status: int = 200, request_id: str | None = None) -> Response:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type="application/json", headers=headers)


def _refusal(problems: list[Problem], request_id: str) -> dict:
    return {
        "detail": "; ".join(p.message for p in problems),
        "problems": [p.as_dict() for p in problems],
        "request_id": request_id,
    }


def _request_id(request: Request) -> tuple[str, Problem | None]:
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is None:
        return uuid.uuid4().hex, None
    if 0 < len(given) <= _MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given, None
    fresh = uuid.uuid4().hex
    wanted = f"send at most {_MAX_REQUEST_ID} printable ASCII characters, or leave the header out for a generated id"
    return fresh, Problem(f"(header {REQUEST_ID_HEADER})", "invalid request id", wanted)


def create_app(service: PredictionService) -> FastAPI:
    """The FastAPI application serving ``service``; its lifespan starts and stops the service."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="retrain serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    metrics = service.metrics

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        started = time.perf_counter()
        arrived = dt.datetime.now(dt.UTC)
        label = name if name in service.specs else UNKNOWN_MODEL
        request_id, bad_id = _request_id(request)
        status, kind = 200, None
        try:
            if bad_id is not None:
                raise InputError([bad_id])
            try:
                body = json.loads(await request.body())
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise InputError([Problem("(body)", f"not JSON ({err})", "send a JSON object")]) from None
            answer = await service.predict(name, body, request_id, arrived)
            response = _json(answer.as_dict(), request_id=request_id)
        except InputError as err:
            status, kind = 422, "invalid_input"
            response = _json(_refusal(err.problems, request_id), status, request_id)
        except UnknownModel:
            status, kind = 404, "unknown_model"
            detail = f"no model {name!r} is served here; served: {sorted(service.specs)}"
            response = _json({"detail": detail, "request_id": request_id}, status, request_id)
        except NotReady:
            status, kind = 503, "not_ready"
            detail = (
                f"{name} has no champion loaded yet; retry once /readyz answers 200 (a model needs a promoted version)"
            )
            response = _json({"detail": detail, "request_id": request_id}, status, request_id)
        except Exception:  # a bug or a model that cannot answer: a 500 the client can quote, the details in the log
            _log.exception("request %s for %s failed", request_id, name)
            status, kind = 500, "internal"
            detail = f"the model failed to answer; quote request id {request_id} to the operator"
            response = _json({"detail": detail, "request_id": request_id}, status, request_id)
        metrics.requests.labels(label, str(status)).inc()
        if kind is not None:
            metrics.errors.labels(label, kind).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        missing = service.follower.missing()
        versions = {name: (m.version if (m := service.follower.current(name)) else None) for name in service.specs}
        if missing:
            detail = f"no champion loaded yet for {missing}; promote a version or wait for the next poll"
            return _json({"ready": False, "models": versions, "detail": detail}, 503)
        return _json({"ready": True, "models": versions})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    if service.config.serves_reports:
        add_report_routes(app, service.specs, service.lake)
    else:
        add_refused_report_routes(app, service.config.reports_refusal)
    return app
