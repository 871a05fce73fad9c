"""The serving process's Prometheus metrics, in a registry of its own (so tests can build many services).

Every series is named ``retrain_serve_*`` and labelled by ``model``. A request for a model that is not served is
counted under ``model="(unknown)"``, so a client sending random names cannot grow the label set.
"""

from __future__ import annotations

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# A ``*_created`` timestamp series beside every counter and histogram doubles the scrape for nothing Prometheus
# uses (it detects counter resets itself).
disable_created_metrics()

UNKNOWN_MODEL = "(unknown)"
# Single-row answers take a few milliseconds; the buckets resolve the 20 ms p99 target and tails past it.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
# Regression outputs have no common scale: symmetric, roughly logarithmic buckets from 0.1 to a million.
_STEPS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1e3, 2.5e3, 5e3, 1e4, 1e5, 1e6)
VALUE_BUCKETS = tuple(sorted({-s for s in _STEPS} | {0.0} | set(_STEPS)))


class ServeMetrics:
    """Counters, histograms and gauges of one serving process."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "retrain_serve_requests", "Prediction requests by model and HTTP status.", ["model", "status"], registry=r
        )
        self.latency = Histogram(
            "retrain_serve_request_seconds",
            "Time from a prediction request's arrival to its answer.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "retrain_serve_errors",
            "Prediction requests not answered, by kind (invalid_input, not_ready, unknown_model, internal).",
            ["model", "kind"],
            registry=r,
        )
        self.rows = Counter("retrain_serve_predicted_rows", "Rows answered.", ["model"], registry=r)
        self.probability = Histogram(
            "retrain_serve_prediction_probability",
            "Answered probabilities: the positive class's (binary) or each label's (multiclass).",
            ["model", "label"],
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        self.value = Histogram(
            "retrain_serve_prediction_value",
            "Answered regression values.",
            ["model"],
            buckets=VALUE_BUCKETS,
            registry=r,
        )
        self.version = Gauge(
            "retrain_serve_model_version",
            "The registered version answering requests (0: none loaded).",
            ["model"],
            registry=r,
        )
        self.served = Info(
            "retrain_serve_model", "The version answering requests and when it was loaded.", ["model"], registry=r
        )
        self.loads = Counter(
            "retrain_serve_model_loads", "Champion loads by outcome (loaded, failed).", ["model", "outcome"], registry=r
        )
        self.polls_failed = Counter(
            "retrain_serve_champion_poll_failures", "Failed reads of the champion alias.", ["model"], registry=r
        )
        self.log_written = Counter(
            "retrain_serve_prediction_log_records", "Prediction-log records written to the lake.", ["model"], registry=r
        )
        self.log_dropped = Counter(
            "retrain_serve_prediction_log_dropped",
            "Prediction-log records lost, by reason (buffer_full, write_failed).",
            ["model", "reason"],
            registry=r,
        )
        self.log_buffered = Gauge(
            "retrain_serve_prediction_log_buffered", "Prediction-log records waiting to be written.", registry=r
        )
        self.batch_rows = Histogram(
            "retrain_serve_batch_rows",
            "Rows per model call (concurrent requests are answered together).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )

    def served_version(self, model: str, version: str | None, loaded_at: str = "") -> None:
        """Publish which version of ``model`` answers now."""
        self.version.labels(model).set(int(version) if version and version.isdigit() else 0)
        self.served.labels(model).info({"version": version or "", "loaded_at": loaded_at})

    def answered(self, model: str, kind: str, labels: tuple | None, values: np.ndarray) -> None:
        """Record the distribution of one request's answers."""
        if kind == "regression":
            observe = self.value.labels(model).observe
            for v in values.tolist():
                observe(v)
        elif kind == "binary":
            observe = self.probability.labels(model, str(labels[-1])).observe
            for v in values.tolist():
                observe(v)
        else:
            for j, label in enumerate(labels):
                observe = self.probability.labels(model, str(label)).observe
                for v in values[:, j].tolist():
                    observe(v)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
