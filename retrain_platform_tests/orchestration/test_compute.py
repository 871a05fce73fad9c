"""A spec's ``compute`` section becomes the step pods dagster-k8s builds, and the pools Dagster enforces.

The manifests are built offline the way ``k8s_job_executor`` builds a step's Job (``get_user_defined_k8s_config``
on the step's tags, then ``construct_dagster_k8s_job``) and validated against the Kubernetes schemas.
"""

from __future__ import annotations

import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster_k8s import DagsterK8sJobConfig, construct_dagster_k8s_job
from dagster_k8s.job import get_user_defined_k8s_config

from retrain_platform.cli import main
from retrain_platform.definitions import build_definitions
from retrain_platform.keys import ModelKeys
from retrain_platform.orchestration.compute import K8S_CONFIG_TAG, pool_limits
from retrain_platform_tests.conftest import make_spec, spec_dict

K8S_VERSION = "1.32"
GPU = {
    "cpu": "4",
    "memory": "16Gi",
    "gpu": 2,
    "gpu_type": "NVIDIA-A100-SXM4-40GB",
    "node_selector": {"node-pool": "gpu"},
    "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
    "max_concurrent_trainings": 3,
}
CPU = {"cpu": "500m", "memory": "2Gi", "cpu_limit": "2"}


def step_tags(spec, asset: str) -> dict[str, str]:
    """The op tags Dagster gives the step that materializes ``asset`` of ``spec``."""
    defs = build_definitions([spec], resources={})
    return dict(defs.resolve_assets_def(getattr(ModelKeys(spec.name), asset)).op.tags)


def step_job(tags: dict[str, str]) -> dict:
    """The step Job manifest dagster-k8s builds for a step with ``tags``, as plain, validated YAML-able data."""
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image="retrain-platform:test", dagster_home="/opt/dagster/dagster_home", instance_config_map="dagster"
        ),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-0123456789abcdef",
        user_defined_k8s_config=get_user_defined_k8s_config(tags),
        component="step_worker",
    )
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifest


def container(manifest: dict) -> dict:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    return only


def test_gpu_model_training_and_gate_pods_get_gpus_nodes_and_threads():
    spec = make_spec(compute=GPU)
    for asset in ("candidate_model", "production_model"):
        manifest = step_job(step_tags(spec, asset))
        pod, main_container = manifest["spec"]["template"]["spec"], container(manifest)
        assert main_container["resources"] == {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "2"},
        }
        assert pod["nodeSelector"] == {"node-pool": "gpu", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in pod["tolerations"]
        env = {item["name"]: item.get("value") for item in main_container["env"]}
        assert env["OMP_NUM_THREADS"] == "4"


def test_cpu_model_pods_get_requests_and_limits_but_no_gpu():
    spec = make_spec(compute=CPU)
    manifest = step_job(step_tags(spec, "candidate_model"))
    assert container(manifest)["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    pod = manifest["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and not pod.get("tolerations")
    env = {item["name"]: item.get("value") for item in container(manifest)["env"]}
    assert env["OMP_NUM_THREADS"] == "1"  # half a core rounds up to one thread


def test_cheap_steps_and_models_without_compute_keep_the_deployments_defaults():
    gpu = make_spec(compute=GPU)
    assert K8S_CONFIG_TAG not in step_tags(gpu, "features")
    assert K8S_CONFIG_TAG not in step_tags(gpu, "drift_report")
    plain = make_spec()
    assert K8S_CONFIG_TAG not in step_tags(plain, "candidate_model")
    assert not container(step_job(step_tags(plain, "candidate_model"))).get("resources")


def test_pools_gate_is_single_writer_and_gpu_trainings_share_a_limited_pool():
    gpu_a, gpu_b, cpu = make_spec(compute=GPU), make_spec(compute={"gpu": 1}), make_spec(compute=CPU)
    defs = build_definitions([gpu_a, gpu_b, cpu], resources={})
    pool = {
        (spec.name, asset): defs.resolve_assets_def(getattr(ModelKeys(spec.name), asset)).op.pool
        for spec in (gpu_a, gpu_b, cpu)
        for asset in ("candidate_model", "production_model")
    }
    assert pool[(gpu_a.name, "candidate_model")] == pool[(gpu_b.name, "candidate_model")] == "gpu"
    assert pool[(cpu.name, "candidate_model")] is None
    assert pool[(cpu.name, "production_model")] == f"{cpu.name}_promotion"
    limits = {limit.pool: limit for limit in pool_limits([gpu_a, gpu_b, cpu])}
    assert limits["gpu"].limit == 3 and limits["gpu"].models == tuple(sorted([gpu_a.name, gpu_b.name]))
    assert limits[f"{cpu.name}_promotion"].limit == 1


def test_retrain_pools_apply_writes_the_limits_into_the_instance(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    for name, compute in (("gpu_a", GPU), ("gpu_b", {"gpu": 1, "max_concurrent_trainings": 3}), ("cpu_c", CPU)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict(name, compute=compute)))
    home = tmp_path / "dagster"
    monkeypatch.setenv("RETRAIN_SPECS", str(folder))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    assert main(["pools"]) == 0
    assert "gpu: 3 (gpu_a, gpu_b)" in capsys.readouterr().out
    assert main(["pools", "--apply"]) == 0
    assert "gpu: 3 set (was the instance default)" in capsys.readouterr().out
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 3
        assert instance.event_log_storage.get_concurrency_info("cpu_c_promotion").slot_count == 1
    assert main(["pools", "--apply"]) == 0  # idempotent
    assert "gpu: 3 unchanged" in capsys.readouterr().out


def test_models_sharing_a_pool_must_agree_on_its_limit(tmp_path, capsys):
    for name, limit in (("gpu_a", 2), ("gpu_b", 4)):
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump(spec_dict(name, compute={"gpu": 1, "max_concurrent_trainings": limit}))
        )
    assert main(["validate-spec", "--no-fit", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "pool 'gpu'" in err and "gpu_a: 2" in err and "gpu_b: 4" in err and "set the same value" in err


def test_a_manifest_with_a_wrong_field_is_refused_by_the_validator():
    """The validator the tests rely on does refuse a malformed step Job (so the passes above mean something)."""
    manifest = step_job(step_tags(make_spec(compute=CPU), "candidate_model"))
    container(manifest)["resources"]["requets"] = {"cpu": "1"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("runs", "executor"), [(2, "in_process"), (1, "multiprocess"), (2, "k8s")])
def test_fits_sharing_a_machine_split_its_cores_by_the_run_limit(tmp_path, monkeypatch, runs, executor):
    import os

    from dagster import DagsterInstance

    from retrain_platform.orchestration.compute import shared_machine_threads

    (tmp_path / "dagster.yaml").write_text(
        f"telemetry: {{enabled: false}}\nconcurrency: {{runs: {{max_concurrent_runs: {runs}}}}}\n"
    )
    monkeypatch.setenv("RETRAIN_EXECUTOR", executor)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        threads = shared_machine_threads(instance)
    expected = None if executor == "k8s" else max(1, len(os.sched_getaffinity(0)) // runs)
    assert threads == expected
