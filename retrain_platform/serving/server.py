"""Assembling the service from the platform's resources, and running it under uvicorn."""

from __future__ import annotations

import logging

from retrain_platform.registry import ModelRegistry
from retrain_platform.serving.app import create_app
from retrain_platform.serving.config import ServeConfig
from retrain_platform.serving.follower import ChampionFollower
from retrain_platform.serving.metrics import ServeMetrics
from retrain_platform.serving.prediction_log import PredictionLog
from retrain_platform.serving.service import PredictionService
from retrain_platform.spec.model_spec import ModelSpec
from retrain_platform.storage.lake import Lake


def build_service(
    specs: dict[str, ModelSpec], registry: ModelRegistry, lake: Lake, config: ServeConfig, **follower_options
) -> PredictionService:
    """A service for ``specs`` (not started: the app's lifespan starts it). ``follower_options`` reach
    :class:`ChampionFollower` (tests pass a failing ``load``)."""
    metrics = ServeMetrics()
    follower = ChampionFollower(specs, registry, metrics, config.poll_seconds, shadow=config.shadow, **follower_options)
    log = PredictionLog(
        lake,
        specs,
        metrics,
        capacity_rows=config.log_capacity_rows,
        flush_rows=config.log_flush_rows,
        flush_seconds=config.log_flush_seconds,
        shadow=follower.shadow if config.shadow else None,
    )
    return PredictionService(follower, log, metrics, config)


def serve(specs: dict[str, ModelSpec], registry: ModelRegistry, lake: Lake, config: ServeConfig) -> None:
    """Serve until SIGTERM or SIGINT; on either, answer the requests in flight, write the log, return."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One model call at a time answers every request; BLAS threads would only compete with the event loop
    # for the machine's cores on the small matrices a request carries.
    threadpool_limits(1)
    app = create_app(build_service(specs, registry, lake, config))
    uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            access_log=config.access_log,
            timeout_graceful_shutdown=config.shutdown_seconds,
            log_level="info",
        )
    ).run()
