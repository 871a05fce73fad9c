"""The ``compute`` section: Kubernetes quantities and names checked up front, with a message saying what to write."""

from __future__ import annotations

import pytest
from kubernetes.utils.quantity import parse_quantity
from threadpoolctl import threadpool_info

from retrain_platform.spec import SpecError
from retrain_platform.spec.compute import ComputeSpec, cpu_cores
from retrain_platform.training import fit
from retrain_platform_tests.conftest import START, credit_frame, make_spec

QUANTITIES = ["1", "2", "0.5", "500m", "250m", "1.5", "4Gi", "512Mi", "1e3", "2k", "1E", "+3", ".5"]
NOT_QUANTITIES = ["4GB", "two", "1.2.3", "", "5mm", "1gi"]


@pytest.mark.parametrize("text", QUANTITIES)
def test_quantities_kubernetes_accepts_are_accepted_with_the_same_value(text):
    assert ComputeSpec(cpu=text).cpu == text
    assert cpu_cores(text) == pytest.approx(float(parse_quantity(text)))


@pytest.mark.parametrize("text", NOT_QUANTITIES)
def test_quantities_kubernetes_refuses_are_refused_with_an_example(text):
    with pytest.raises(ValueError):
        parse_quantity(text)
    with pytest.raises(SpecError, match="is not a Kubernetes quantity; write e.g."):
        make_spec(compute={"memory": text})


def test_a_negative_quantity_is_refused_although_the_parser_reads_it():
    assert parse_quantity("-1") == -1  # a quantity, but no container can request less than nothing
    with pytest.raises(SpecError, match="is not a Kubernetes quantity"):
        make_spec(compute={"cpu": "-1"})


@pytest.mark.parametrize(
    ("compute", "message"),
    [
        ({"gpu_type": "NVIDIA-A100"}, "compute.gpu is 0; set gpu: 1"),
        ({"max_concurrent_trainings": 2}, "name it with compute.pool"),
        ({"node_selector": {"bad key!": "x"}}, "is not a Kubernetes label"),
        ({"pool": "gpu pool"}, "compute.pool 'gpu pool'"),
        ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "operator Exists takes no value"),
        ({"gpus": 1}, "gpus"),
    ],
)
def test_inconsistent_compute_sections_are_refused(compute, message):
    with pytest.raises(SpecError, match=message):
        make_spec(compute=compute)


def test_a_gpu_model_joins_the_gpu_pool_unless_it_names_one():
    assert ComputeSpec(gpu=1).training_pool == "gpu"
    assert ComputeSpec(gpu=1, pool="a100").training_pool == "a100"
    assert ComputeSpec().training_pool is None
    assert ComputeSpec(cpu="2500m").estimator_threads == 3
    assert ComputeSpec(cpu="2", threads=1).estimator_threads == 1


def test_a_fit_runs_with_no_more_threads_than_its_compute_section_gives(monkeypatch):
    seen = []
    real = fit.build_estimator

    class Recording:
        """The spec's own estimator, noting the OpenMP/BLAS thread counts it is fit under."""

        def __init__(self, estimator):
            self.estimator = estimator

        def fit(self, X, y):
            seen.append({info["user_api"]: info["num_threads"] for info in threadpool_info()})
            return self.estimator.fit(X, y)

    monkeypatch.setattr(fit, "build_estimator", lambda spec: Recording(real(spec)))
    frame = credit_frame(START)
    fit.fit_model(make_spec(compute={"cpu": "1"}), frame)
    assert seen[-1] and set(seen[-1].values()) == {1}
