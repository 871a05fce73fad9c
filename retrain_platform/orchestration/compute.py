"""A spec's ``compute`` section as Dagster sees it: ``dagster-k8s/config`` step tags and pools.

``k8s_job_executor`` reads the ``dagster-k8s/config`` tag of each step and merges it into that step's Job, so the
training and gate steps of a GPU model get a GPU and land on GPU nodes while the cheap steps (ingest, features,
drift, monitoring) keep the deployment's defaults. Other executors ignore the tag, so the same definitions run on a
laptop. Pools are Dagster's own cross-run step limits: the training pool bounds how many trainings share the GPUs,
and each model's gate pool (limit 1) keeps promotion single-writer whichever run started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from retrain_platform.spec.compute import ComputeSpec
from retrain_platform.spec.model_spec import ModelSpec

K8S_CONFIG_TAG = "dagster-k8s/config"
THREADS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The thread-count variables OpenMP (HistGradientBoosting, LightGBM, XGBoost) and the BLAS libraries read."""

Step = Literal["training", "gate"]


def promotion_pool(model: str) -> str:
    """The pool of a model's gate step: limit 1, so two gates of one model never run at once."""
    return f"{model}_promotion"


def step_pool(spec: ModelSpec, step: Step) -> str | None:
    """The Dagster pool of ``step`` of this model."""
    return promotion_pool(spec.name) if step == "gate" else spec.compute.training_pool


def step_tags(spec: ModelSpec, step: Step) -> dict[str, object]:
    """The op tags of ``step``: ``dagster-k8s/config`` with the compute section's resources, or none when the
    section asks for nothing (the deployment's defaults then apply)."""
    config = k8s_config(spec.compute)
    return {K8S_CONFIG_TAG: config} if config else {}


def k8s_config(compute: ComputeSpec) -> dict[str, dict]:
    """The ``dagster-k8s/config`` value for a compute section (snake_case keys, as dagster-k8s documents)."""
    requests, limits = {}, {}
    if compute.cpu:
        requests["cpu"] = compute.cpu
    if compute.cpu_limit:
        limits["cpu"] = compute.cpu_limit
    if compute.memory:
        requests["memory"] = compute.memory
    if compute.memory_limit or compute.memory:
        limits["memory"] = compute.memory_limit or compute.memory
    if compute.gpu:
        # Extended resources are limits only (Kubernetes sets the request equal to the limit).
        limits[compute.gpu_resource] = str(compute.gpu)
    container: dict[str, object] = {}
    if requests or limits:
        container["resources"] = {key: value for key, value in (("requests", requests), ("limits", limits)) if value}
    if (threads := compute.estimator_threads) is not None:
        container["env"] = [{"name": name, "value": str(threads)} for name in THREADS_ENV]
    pod: dict[str, object] = {}
    selector = dict(compute.node_selector)
    if compute.gpu_type:
        selector.setdefault(compute.gpu_type_label, compute.gpu_type)
    if selector:
        pod["node_selector"] = selector
    tolerations = [toleration.manifest() for toleration in compute.tolerations]
    if compute.gpu and not any(t.get("key") == compute.gpu_resource for t in tolerations):
        # GPU node pools are commonly tainted with the GPU resource's name (EKS, AKS and the NVIDIA operator's
        # examples), so a GPU step that did not tolerate it would stay Pending for ever.
        tolerations.append({"key": compute.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    if tolerations:
        pod["tolerations"] = tolerations
    config: dict[str, dict] = {}
    if container:
        config["container_config"] = container
    if pod:
        config["pod_spec_config"] = pod
    return config


def shared_machine_threads(instance) -> int | None:
    """Threads per fit when runs share one machine: its cores divided by the instance's run limit.

    Each run is its own process and OpenMP sizes its pool to every core, so two fits at once on two cores each ran
    two threads per core; measured, a HistGradientBoosting fit then took 0.3-63 s instead of 0.15-0.2 s. ``None``
    (no bound) on Kubernetes, where a step's pod has its own CPUs and ``compute`` sizes it, and without a run limit.
    """
    if os.environ.get("RETRAIN_EXECUTOR", "in_process") == "k8s":
        return None
    queue = instance.get_concurrency_config().run_queue_config
    limit = getattr(queue, "max_concurrent_runs", None)
    if not limit or limit < 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // limit)


@dataclass(frozen=True)
class PoolLimit:
    """A pool, the limit its models ask for, and which models use it."""

    pool: str
    limit: int | None
    models: tuple[str, ...]


def pool_limits(specs: Iterable[ModelSpec]) -> list[PoolLimit]:
    """Every pool the specs use with its limit: 1 for each gate pool, ``max_concurrent_trainings`` for a training
    pool (``None``: the instance's ``concurrency.pools.default_limit`` applies).

    Raises ``ValueError`` naming the models when two of them ask one pool for different limits.
    """
    wanted: dict[str, dict[str, int | None]] = {}
    for spec in specs:
        wanted.setdefault(promotion_pool(spec.name), {})[spec.name] = 1
        if (pool := spec.compute.training_pool) is not None:
            wanted.setdefault(pool, {})[spec.name] = spec.compute.max_concurrent_trainings
    limits = []
    for pool, by_model in sorted(wanted.items()):
        asked = {limit for limit in by_model.values() if limit is not None}
        if len(asked) > 1:
            detail = ", ".join(f"{model}: {limit}" for model, limit in sorted(by_model.items()))
            raise ValueError(
                f"pool {pool!r} is given different compute.max_concurrent_trainings ({detail}); models sharing "
                "a pool share its limit, so set the same value (or leave it out) in each"
            )
        limits.append(PoolLimit(pool, next(iter(asked), None), tuple(sorted(by_model))))
    return limits


def apply_pool_limits(instance, limits: Iterable[PoolLimit]) -> Iterator[tuple[PoolLimit, int | None]]:
    """Write each explicit limit into the instance (what ``dagster instance concurrency set`` does); yields each
    pool with the limit it had before (``None``: the instance default). Pools without an explicit limit are left to
    the instance default."""
    for limit in limits:
        info = instance.event_log_storage.get_concurrency_info(limit.pool)
        before = None if info.using_default_limit else info.limit
        if limit.limit is not None and before != limit.limit:
            instance.event_log_storage.set_concurrency_slots(limit.pool, limit.limit)
        yield limit, before
