"""The ``compute`` section of a spec: what a model's training and gate steps need from the cluster.

It is read by :mod:`retrain_platform.orchestration.compute`, which turns it into ``dagster-k8s/config`` step tags
(container resources, GPU limits, node selector, tolerations) and Dagster pools. On a laptop the resources mean
nothing (``RETRAIN_EXECUTOR`` is not ``k8s``) but the pools still bound how many trainings run at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Kubernetes' quantity grammar (a decimal number with an optional SI or binary suffix). Checked here rather than
# with kubernetes.utils.parse_quantity because importing the kubernetes client costs half a second and every
# process that loads a spec would pay it; the tests check this pattern against parse_quantity.
_QUANTITY = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
# Kubernetes names for label keys / values and pools: conservative subsets that are valid everywhere.
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_POOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

GPU_POOL = "gpu"
"""The pool a GPU training joins unless ``compute.pool`` names another one."""


def _quantity(value: str | int | float | None, field: str, example: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not _QUANTITY.match(text):
        raise ValueError(f"{field} {value!r} is not a Kubernetes quantity; write e.g. {example}")
    return text


class TolerationSpec(BaseModel):
    """A Kubernetes toleration, so a step may run on tainted nodes (e.g. a GPU node pool)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TolerationSpec:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("a toleration with operator Exists takes no value; drop value or use operator Equal")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds applies to effect NoExecute only")
        return self

    def manifest(self) -> dict:
        """The toleration as the Kubernetes API spells it."""
        fields = {
            "key": self.key,
            "operator": self.operator,
            "value": self.value,
            "effect": self.effect,
            "tolerationSeconds": self.toleration_seconds,
        }
        return {name: value for name, value in fields.items() if value is not None}


class ComputeSpec(BaseModel):
    """Resources of the training and gate steps, and how many trainings may run at once.

    - ``cpu`` / ``memory``: requests of each step's container (Kubernetes quantities: ``"2"``, ``"500m"``,
      ``"4Gi"``); limits are ``cpu_limit`` / ``memory_limit``, and default to the request for memory (a pod that
      outgrows its request is killed rather than starving its neighbours) and to none for CPU (throttling a fit
      only slows it down).
    - ``gpu``: GPUs per step, set as a limit of ``gpu_resource`` (``nvidia.com/gpu``). With ``gpu_type`` the
      steps select nodes whose ``gpu_type_label`` (NVIDIA's GPU feature discovery label by default; GKE uses
      ``cloud.google.com/gke-accelerator``) has that value. A GPU step also tolerates the usual
      ``nvidia.com/gpu`` taint.
    - ``node_selector`` and ``tolerations``: added to both steps' pods as written.
    - ``pool``: the Dagster pool of the training step (``gpu`` by default for a GPU model, none otherwise);
      ``max_concurrent_trainings`` is that pool's limit, applied to the instance by ``retrain pools --apply``.
      Models naming the same pool share it, so they must agree on the limit.
    - ``threads``: the estimator's thread count (OpenMP and BLAS) in the step; by default the CPU request
      rounded up, so a fit never runs more threads than its pod was given.
    """

    model_config = ConfigDict(extra="forbid")

    cpu: str | None = None
    memory: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None
    gpu: Annotated[int, Field(ge=0, le=16)] = 0
    gpu_type: str | None = None
    gpu_resource: str = "nvidia.com/gpu"
    gpu_type_label: str = "nvidia.com/gpu.product"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[TolerationSpec] = Field(default_factory=list)
    pool: str | None = None
    max_concurrent_trainings: Annotated[int, Field(ge=1, le=1000)] | None = None
    threads: Annotated[int, Field(ge=1, le=256)] | None = None

    @field_validator("cpu", "cpu_limit", mode="before")
    @classmethod
    def _cpu(cls, value, info):
        return _quantity(value, f"compute.{info.field_name}", '"2" or "500m"')

    @field_validator("memory", "memory_limit", mode="before")
    @classmethod
    def _memory(cls, value, info):
        return _quantity(value, f"compute.{info.field_name}", '"4Gi" or "512Mi"')

    @field_validator("gpu_resource", "gpu_type_label")
    @classmethod
    def _label_key(cls, value: str, info) -> str:
        if not _LABEL_KEY.match(value):
            raise ValueError(f"compute.{info.field_name} {value!r} is not a Kubernetes name such as nvidia.com/gpu")
        return value

    @field_validator("node_selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(str(label)):
                raise ValueError(
                    f"compute.node_selector {key}: {label!r} is not a Kubernetes label; keys look like "
                    "kubernetes.io/arch or node-pool, values are up to 63 letters, digits, '-', '_' or '.'"
                )
        return value

    @field_validator("gpu_type")
    @classmethod
    def _gpu_type(cls, value: str | None) -> str | None:
        if value is not None and not (value and _LABEL_VALUE.match(value)):
            raise ValueError(f"compute.gpu_type {value!r} is not a Kubernetes label value such as NVIDIA-A100")
        return value

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        if value is not None and not _POOL.match(value):
            raise ValueError(f"compute.pool {value!r}: use letters, digits, '_', '-' or '.', e.g. gpu")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ComputeSpec:
        if self.gpu_type is not None and self.gpu == 0:
            raise ValueError("compute.gpu_type is set but compute.gpu is 0; set gpu: 1 (or more) or drop gpu_type")
        if self.max_concurrent_trainings is not None and self.training_pool is None:
            raise ValueError(
                "compute.max_concurrent_trainings limits a pool: name it with compute.pool (e.g. pool: cpu_heavy)"
            )
        return self

    @property
    def training_pool(self) -> str | None:
        """The Dagster pool of the training step, if any."""
        return self.pool or (GPU_POOL if self.gpu else None)

    @property
    def estimator_threads(self) -> int | None:
        """How many threads a fit may use in its step (``threads``, else the CPU request rounded up)."""
        if self.threads is not None:
            return self.threads
        if self.cpu is None:
            return None
        return max(1, -int(-cpu_cores(self.cpu) // 1))


_SCALES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_SCALES.update({suffix: 1024.0 ** (i + 1) for i, suffix in enumerate(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])})


def cpu_cores(quantity: str) -> float:
    """A CPU quantity in cores (``"500m"`` → 0.5, ``"2"`` → 2.0, ``"1e1"`` → 10.0)."""
    match = _QUANTITY.match(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    suffix = match.group(3) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return float(quantity.lstrip("+"))
    return float(match.group(1)) * _SCALES[suffix]
