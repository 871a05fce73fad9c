"""Serving champions over HTTP: ``retrain serve`` (FastAPI + uvicorn), following the ``champion`` alias.

Depends only on the layers below it (spec, registry, storage, and the promotion metrics' label layout, so a
multiclass answer is laid out as the gate scores it): nothing else in the platform imports it.
The pieces, each a module: :mod:`.inputs` checks requests against a spec, :mod:`.loaded` is one immutable loaded
version, :mod:`.follower` polls the alias and swaps versions, :mod:`.service` batches and answers,
:mod:`.prediction_log` writes every answer to the lake off the request path, :mod:`.metrics` is what Prometheus
scrapes, :mod:`.app` the HTTP routes and :mod:`.server` the assembly under uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain_platform.serving.app import create_app
    from retrain_platform.serving.config import ServeConfig
    from retrain_platform.serving.server import build_service, serve

# Resolved on first use (PEP 562): `retrain --help` reads ServeConfig's defaults, and importing the package must not
# load FastAPI, MLflow and scikit-learn for every other command.
_HOMES = {
    "ServeConfig": "retrain_platform.serving.config",
    "create_app": "retrain_platform.serving.app",
    "build_service": "retrain_platform.serving.server",
    "serve": "retrain_platform.serving.server",
}

__all__ = ["ServeConfig", "build_service", "create_app", "serve"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
