"""Reading ``deploy/`` for the tests: the manifests, the containers in them, and the instance config the Dagster
Helm chart would render from ``deploy/helm/dagster-values.yaml``.

The chart itself cannot run here (no helm binary, no network), so :func:`chart_instance_config` restates, for the
keys these values use, how the chart's ``configmap-instance.yaml`` turns values into ``dagster.yaml`` (chart
1.13.x). It is a model of the chart, checked by reading the chart's templates, not the chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = DEPLOY / "k8s"
VALUES = DEPLOY / "helm" / "dagster-values.yaml"

KUBERNETES_VERSION = "1.34.0"
"""The Kubernetes API the manifests are validated against (kubernetes-validate ships the schemas offline)."""

RELEASE, NAMESPACE = "dagster", "retrain"
"""The Helm release name and namespace deploy/README.md installs with."""


def manifest_files() -> list[Path]:
    """Every manifest file under ``deploy/k8s``."""
    return sorted(MANIFESTS.glob("*.yaml"))


def manifests() -> list[tuple[Path, dict]]:
    """Every resource of every manifest file, with its file."""
    return [(path, doc) for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def resource(kind: str, name: str) -> dict:
    """The one resource of that kind and name in ``deploy/k8s``."""
    [found] = [doc for _, doc in manifests() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def validate(doc: dict) -> str:
    """Validate one resource strictly (unknown fields refused); returns the schema version used."""
    return kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def values() -> dict:
    """The Helm values file, parsed."""
    return yaml.safe_load(VALUES.read_text())


def pod_spec(doc: dict) -> dict | None:
    """The pod spec of a Deployment or Job, else None."""
    if doc["kind"] in ("Deployment", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def containers() -> Iterator[tuple[dict, dict, dict]]:
    """``(resource, pod spec, container)`` for every container (init containers too) in ``deploy/k8s``."""
    for _, doc in manifests():
        if (spec := pod_spec(doc)) is not None:
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                yield doc, spec, container


def container_port(container: dict, port: int | str) -> int:
    """A probe's or Service's port resolved against the container's ports (a name or a number)."""
    if isinstance(port, int):
        return port
    [found] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return found


def _postgres_config(vals: dict) -> dict:
    pg = vals["postgresql"]
    db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        # the chart's own Postgres Service when enabled, else the external host
        "hostname": f"{RELEASE}-postgresql" if pg.get("enabled", True) else pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams", {}),
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _k8s_run_launcher(vals: dict) -> dict:
    launcher = vals["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": launcher.get("loadInclusterConfig", True),
        "job_namespace": launcher.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": launcher.get("imagePullPolicy", "Always"),
        "service_account_name": RELEASE,
        "dagster_home": vals["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": vals["global"]["postgresqlSecretName"],
    }
    optional = {
        "envConfigMaps": ("env_config_maps", lambda v: [m["name"] for m in v]),
        "envSecrets": ("env_secrets", lambda v: [s["name"] for s in v]),
        "envVars": ("env_vars", list),
        "volumeMounts": ("volume_mounts", list),
        "volumes": ("volumes", list),
        "labels": ("labels", dict),
        "resources": ("resources", dict),
        "failPodOnRunFailure": ("fail_pod_on_run_failure", bool),
        "securityContext": ("security_context", dict),
    }
    for key, (name, convert) in optional.items():
        if launcher.get(key):
            config[name] = convert(launcher[key])
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def chart_rendered_sections(vals: dict) -> dict:
    """The ``dagster.yaml`` sections the chart writes from its own keys (before ``additionalInstanceConfig``)."""
    assert vals["runLauncher"]["type"] == "K8sRunLauncher", "the model covers the K8sRunLauncher only"
    assert vals.get("scheduler", {}).get("type", "DagsterDaemonScheduler") == "DagsterDaemonScheduler"

    def storage(module: str, cls: str) -> dict:
        return {"module": module, "class": cls, "config": _postgres_config(vals)}

    config = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": storage("dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
        "run_launcher": _k8s_run_launcher(vals),
        "run_storage": storage("dagster_postgres.run_storage", "PostgresRunStorage"),
        "event_log_storage": storage("dagster_postgres.event_log", "PostgresEventLogStorage"),
        "telemetry": {"enabled": vals["telemetry"]["enabled"]},
    }
    daemon = vals["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    if daemon["enabled"] and coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator"
        queued = coordinator["config"].get("queuedRunCoordinator") or {}
        section = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
        names = {
            "maxConcurrentRuns": "max_concurrent_runs",
            "tagConcurrencyLimits": "tag_concurrency_limits",
            "dequeueIntervalSeconds": "dequeue_interval_seconds",
            "dequeueUseThreads": "dequeue_use_threads",
            "dequeueNumWorkers": "dequeue_num_workers",
        }
        if settings := {names[k]: v for k, v in queued.items() if v is not None}:
            section["config"] = settings
        config["run_coordinator"] = section
    compute_logs = vals.get("computeLogManager", {}).get("type", "NoOpComputeLogManager")
    assert compute_logs == "NoOpComputeLogManager", "the model covers the no-op compute log manager only"
    config["compute_logs"] = {
        "module": "dagster.core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
    if daemon["enabled"] and daemon["runMonitoring"]["enabled"]:
        config["run_monitoring"] = "rendered by the chart"  # these values keep it off; see the values file
    if daemon["enabled"] and daemon["runRetries"]["enabled"]:
        config["run_retries"] = "rendered by the chart"
    if vals.get("concurrency", {}).get("enabled"):
        config["concurrency"] = "rendered by the chart"
    sensors = daemon.get("sensors", {})
    if daemon["enabled"] and sensors.get("useThreads"):
        config["sensors"] = {
            "use_threads": True,
            **({"num_workers": sensors["numWorkers"]} if "numWorkers" in sensors else {}),
        }
    retention = vals.get("retention", {})
    if retention.get("enabled"):
        config["retention"] = {
            name: {"purge_after_days": retention[key]["purgeAfterDays"]}
            for key, name in (("sensor", "sensor"), ("schedule", "schedule"), ("autoMaterialize", "auto_materialize"))
            if retention.get(key)
        }
    return config


def chart_instance_config(vals: dict) -> dict:
    """The whole ``dagster.yaml`` of the release: the chart's sections, then ``additionalInstanceConfig``."""
    rendered = chart_rendered_sections(vals)
    extra = vals.get("additionalInstanceConfig") or {}
    twice = sorted(set(rendered) & set(extra))
    assert not twice, f"sections written both by the chart and by additionalInstanceConfig: {twice}"
    return {**rendered, **extra}


def env_names_in(config) -> set[str]:
    """Every ``{"env": NAME}`` an instance config reads."""
    if isinstance(config, dict):
        found = {config["env"]} if set(config) == {"env"} else set()
        return found.union(*(env_names_in(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(env_names_in(v) for v in config))
    return set()
