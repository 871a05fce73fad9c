"""``deploy/helm/dagster-values.yaml`` without the chart: the Dagster instance config it implies validates with
Dagster's own schemas and mirrors the repo's laptop ``dagster.yaml``; the Kubernetes objects it passes through
validate against the Kubernetes schemas; the code location it starts is the platform's.

Not checked here (it needs the chart): that the chart accepts every key of the values file.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import tomllib

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from retrain_platform_tests.deploy.manifests import (
    REPO,
    chart_instance_config,
    chart_rendered_sections,
    resource,
    validate,
    values,
)

LAPTOP = yaml.safe_load((REPO / "dagster.yaml").read_text())

DELIBERATE = {
    ("concurrency", "runs", "max_concurrent_runs"): "each run is its own pod, not a process on a two-core laptop",
    ("run_monitoring", "start_timeout_seconds"): "a pod may first pull the image on a fresh node",
    ("run_monitoring", "max_resume_run_attempts"): "the K8sRunLauncher can resume a run whose pod was lost",
}
"""Where the Kubernetes instance differs from the laptop one on purpose (the values file says why, too)."""


def _instance_dir(tmp_path, config: dict):
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path)


def test_the_implied_instance_config_validates_with_dagsters_schema(tmp_path):
    config, custom_class = dagster_instance_config(_instance_dir(tmp_path, chart_instance_config(values())))
    assert custom_class is None
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["telemetry"]["enabled"] is False


def test_the_instance_schema_check_has_teeth(tmp_path):
    broken = chart_instance_config(values())
    broken["run_monitoring"]["max_runtime_second"] = broken["run_monitoring"].pop("max_runtime_seconds")
    with pytest.raises(DagsterInvalidConfigError, match="max_runtime_second"):
        dagster_instance_config(_instance_dir(tmp_path, broken))


def _configured_classes(config: dict):
    for section, value in config.items():
        if isinstance(value, dict) and {"module", "class"} <= set(value):
            module = importlib.import_module(value["module"].replace("dagster.core.", "dagster._core.", 1))
            yield section, getattr(module, value["class"]), value.get("config") or {}


def test_every_configured_class_accepts_its_config():
    checked = []
    for section, cls, config in _configured_classes(chart_instance_config(values())):
        outcome = validate_config(cls.config_type(), config)
        assert outcome.success, (section, [e.message for e in outcome.errors])
        checked.append(cls.__name__)
    assert {"K8sRunLauncher", "PostgresRunStorage", "PostgresEventLogStorage", "QueuedRunCoordinator"} <= set(checked)


def test_a_bad_run_launcher_field_is_refused():
    from dagster_k8s import K8sRunLauncher

    launcher = copy.deepcopy(chart_instance_config(values())["run_launcher"]["config"])
    launcher["fail_pod_on_run_faillure"] = launcher.pop("fail_pod_on_run_failure")
    assert not validate_config(K8sRunLauncher.config_type(), launcher).success


def test_postgres_storage_uses_the_psycopg2_scheme_and_the_password_secret():
    config = chart_instance_config(values())
    for section in ("run_storage", "event_log_storage", "schedule_storage"):
        db = config[section]["config"]["postgres_db"]
        # with SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which is not installed
        assert db["scheme"] == "postgresql+psycopg2", section
        assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}, section
    assert config["run_launcher"]["config"]["postgres_password_secret"] == "retrain-dagster-postgresql"
    secret_ref = resource("Job", "retrain-pools")["spec"]["template"]["spec"]["containers"][0]["env"]
    [password] = [e for e in secret_ref if e["name"] == "DAGSTER_PG_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["name"] == "retrain-dagster-postgresql"
    # the key the chart reads from that Secret
    assert password["valueFrom"]["secretKeyRef"]["key"] == "postgresql-password"


def _leaves(node: dict, prefix=()):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


@pytest.mark.parametrize("section", ["run_monitoring", "run_retries", "concurrency", "sensors", "retention"])
def test_the_kubernetes_instance_mirrors_the_laptop_instance(section):
    kubernetes = dict(_leaves({section: chart_instance_config(values())[section]}))
    laptop = dict(_leaves({section: LAPTOP[section]}))
    differing = {key for key in laptop.keys() | kubernetes.keys() if laptop.get(key) != kubernetes.get(key)}
    assert differing <= set(DELIBERATE), sorted(differing - set(DELIBERATE))


def test_auto_materialize_runs_on_sensors_as_on_the_laptop():
    assert chart_instance_config(values())["auto_materialize"] == LAPTOP["auto_materialize"]


def _kubeconfig(tmp_path) -> str:
    path = tmp_path / "kubeconfig"
    cluster = {"name": "offline", "cluster": {"server": "https://127.0.0.1:1"}}
    context = {"name": "offline", "context": {"cluster": "offline", "user": "offline"}}
    user = {"name": "offline", "user": {"token": "unused"}}
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "offline", "clusters": [cluster]}
    path.write_text(yaml.safe_dump({**kubeconfig, "contexts": [context], "users": [user]}))
    return str(path)


def test_concurrency_holds_the_run_limit_and_every_pool_defaults_to_one(tmp_path):
    config = chart_instance_config(values())
    # Dagster refuses max_concurrent_runs on the coordinator beside a `concurrency` section
    assert "max_concurrent_runs" not in config["run_coordinator"].get("config", {})
    assert config["concurrency"]["pools"]["default_limit"] == 1  # each `<model>_promotion` gate pool: one writer
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]

    from dagster import DagsterInstance

    # A real instance with the rendered sections: only the storage (a server) is left out, and the K8sRunLauncher
    # reads a kubeconfig naming a cluster that is never contacted instead of the in-cluster service account.
    local = {k: v for k, v in config.items() if k not in ("run_storage", "event_log_storage", "schedule_storage")}
    local["run_launcher"] = copy.deepcopy(local["run_launcher"])
    local["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=_kubeconfig(tmp_path))
    with DagsterInstance.from_config(_instance_dir(tmp_path, local)) as instance:
        assert type(instance.run_launcher).__name__ == "K8sRunLauncher"  # it can resume runs (max_resume_run_attempts)
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config.max_concurrent_runs == config["concurrency"]["runs"]["max_concurrent_runs"]
        assert instance.run_monitoring_max_runtime_seconds == LAPTOP["run_monitoring"]["max_runtime_seconds"]
        assert instance.run_retries_max_retries == LAPTOP["run_retries"]["max_retries"]

    doubled = copy.deepcopy(local)
    doubled["run_coordinator"]["config"] = {"max_concurrent_runs": 2}
    with (
        pytest.raises(DagsterInvalidConfigError, match="incompatible with the `concurrency > runs`"),
        DagsterInstance.from_config(_instance_dir(tmp_path, doubled)) as instance,
    ):
        instance.get_concurrency_config()


def test_the_chart_and_additional_instance_config_never_write_the_same_section():
    vals = values()
    rendered, extra = chart_rendered_sections(vals), vals["additionalInstanceConfig"]
    assert not set(rendered) & set(extra)
    # switched on, the chart's own run monitoring would be a second `run_monitoring:` beside the appended one
    on = copy.deepcopy(vals)
    on["dagsterDaemon"]["runMonitoring"]["enabled"] = True
    with pytest.raises(AssertionError, match="run_monitoring"):
        chart_instance_config(on)


def test_the_code_location_is_the_platforms_definitions_module():
    from dagster._cli.code_server import start_command

    [deployment] = values()["dagster-user-deployments"]["deployments"]
    # the chart prepends `dagster code-server start -h 0.0.0.0 -p <port>`
    argv = ["-h", "0.0.0.0", "-p", str(deployment["port"]), *deployment["codeServerArgs"]]
    with start_command.make_context("start", argv) as ctx:
        params = ctx.params
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert params["module_name"] == pyproject["tool"]["dagster"]["module_name"]
    assert importlib.import_module(params["module_name"]).defs is not None
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True  # run pods get the lake and the settings


def test_the_kubernetes_objects_in_the_values_validate_as_a_pod():
    vals = values()
    [deployment] = vals["dagster-user-deployments"]["deployments"]
    launcher = vals["runLauncher"]["config"]["k8sRunLauncher"]
    container = {
        "name": "user-code",
        "image": "retrain-platform:0.1.0",
        "resources": deployment["resources"],
        "securityContext": deployment["securityContext"],
        "volumeMounts": deployment["volumeMounts"],
        "envFrom": [{"configMapRef": cm} for cm in deployment["envConfigMaps"]],
    }
    pods = [
        {
            "securityContext": deployment["podSecurityContext"],
            "volumes": deployment["volumes"],
            "containers": [container],
        },
        {"containers": [{"name": "run", "image": "retrain-platform:0.1.0", "resources": launcher["resources"]}]},
    ]
    for role in ("dagsterWebserver", "dagsterDaemon"):
        pods.append(
            {
                "securityContext": vals[role]["podSecurityContext"],
                "containers": [{"name": role, "image": "x", "securityContext": vals[role]["securityContext"]}],
            }
        )
    for spec in pods:
        validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "values"}, "spec": spec})


def test_the_webserver_stays_inside_the_cluster_on_an_unprivileged_port_it_answers():
    from dagster_webserver.webserver import DagsterWebserver

    webserver = values()["dagsterWebserver"]
    assert webserver["service"]["type"] == "ClusterIP"
    assert values()["ingress"]["enabled"] is False
    # the chart binds the Service's port in the container, where the image's user 10001 cannot take one below 1024
    assert webserver["service"]["port"] >= 1024
    probe = webserver["readinessProbe"]["httpGet"]
    assert probe["port"] == webserver["service"]["port"]
    # building the app needs a loaded workspace; its route table is read from the source instead
    assert f'Route("{probe["path"]}"' in inspect.getsource(DagsterWebserver)
