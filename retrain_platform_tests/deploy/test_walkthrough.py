"""The walk-throughs (README's Kubernetes paragraph, ``deploy/README.md``) name only things that exist, and
between them cover every manifest, every Secret the manifests need and every image they run."""

from __future__ import annotations

import re

from retrain_platform_tests.deploy.manifests import (
    DEPLOY,
    RELEASE,
    REPO,
    containers,
    manifest_files,
    manifests,
    resource,
    values,
)

WALKTHROUGH = (DEPLOY / "README.md").read_text()


def _kubernetes_paragraph() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("**Kubernetes.**")
    return readme[start : readme.index("\n\n", start)]


def _paths(text: str) -> set[str]:
    """Backticked or linked repository paths: anything with a slash or a file suffix, no spaces, no URL."""
    candidates = re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s]+)\)", text)
    return {
        c.rstrip("/")
        for c in candidates
        if ("/" in c or re.search(r"\.(ya?ml|md|toml|txt)$", c) or c == "Dockerfile")
        and "://" not in c
        and not c.startswith(("/", "svc/", "job/", "deployment/", "mlflow-artifacts:"))
        and "<" not in c
    }


def test_the_readme_paragraph_points_at_the_walkthrough_and_names_only_existing_files():
    paragraph = _kubernetes_paragraph()
    assert "deploy/README.md" in paragraph
    paths = _paths(paragraph)
    assert {"deploy/helm/dagster-values.yaml", "deploy/k8s/serve.yaml", "Dockerfile"} <= paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, missing


def test_every_path_in_the_walkthrough_exists():
    paths = _paths(WALKTHROUGH)
    assert "deploy/k8s/pools-job.yaml" in paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, missing


def test_the_path_check_has_teeth():
    assert "deploy/k8s/nothing.yaml" in _paths("apply `deploy/k8s/nothing.yaml` first")
    assert not (REPO / "deploy/k8s/nothing.yaml").exists()


def test_the_walkthrough_applies_every_manifest():
    applied = set(re.findall(r"-f (deploy/k8s/\S+\.yaml)", WALKTHROUGH))
    assert applied == {str(p.relative_to(REPO)) for p in manifest_files()}


def test_every_secret_the_deployment_reads_is_created_in_the_walkthrough():
    created: dict[str, set[str]] = {}
    for name, body in re.findall(r"create secret generic (\S+)((?:\s*\\\n\s*--from-literal=\S+)+)", WALKTHROUGH):
        created[name] = set(re.findall(r"--from-literal=([A-Za-z0-9_.-]+)=", body))
    needed: dict[str, set[str]] = {values()["global"]["postgresqlSecretName"]: {"postgresql-password"}}
    for _, _, container in containers():
        for env in container.get("env", []):
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                needed.setdefault(ref["name"], set()).add(ref["key"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                needed.setdefault(source["secretRef"]["name"], set())
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    for secret in deployment.get("envSecrets", []):
        needed.setdefault(secret["name"], set())
    for name, keys in needed.items():
        assert name in created, f"Secret {name} is read but the walk-through never creates it"
        assert keys <= created[name], (name, keys - created[name])


def test_every_configmap_and_claim_the_pods_mount_is_made_somewhere():
    defined = {(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()}
    made_by_kubectl = set(re.findall(r"create configmap (\S+)", WALKTHROUGH))
    made_by_chart = {f"{RELEASE}-instance"}
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    volumes = [v for _, spec, _ in containers() for v in spec.get("volumes", [])] + deployment["volumes"]
    env_sources = [s for _, _, c in containers() for s in c.get("envFrom", [])]
    env_sources += [{"configMapRef": cm} for cm in deployment["envConfigMaps"]]
    for volume in volumes:
        if "configMap" in volume:
            name = volume["configMap"]["name"]
            assert ("ConfigMap", name) in defined or name in made_by_kubectl | made_by_chart, name
        if "persistentVolumeClaim" in volume:
            assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in defined
    for source in env_sources:
        if "configMapRef" in source:
            assert ("ConfigMap", source["configMapRef"]["name"]) in defined


def test_the_walkthrough_installs_the_chart_version_of_the_pinned_dagster_as_release_dagster():
    dagster = re.search(r"^dagster==(\S+)$", (REPO / "constraints.txt").read_text(), re.M).group(1)
    install = re.search(r"helm upgrade --install (\S+) dagster/dagster --version (\S+)", WALKTHROUGH)
    assert install.groups() == (RELEASE, dagster)
    assert "-f deploy/helm/dagster-values.yaml" in WALKTHROUGH
    # the pools Job mounts the instance ConfigMap of that release
    job = resource("Job", "retrain-pools")["spec"]["template"]["spec"]
    assert {"name": f"{RELEASE}-instance"} in [v.get("configMap") for v in job["volumes"]]


def test_the_walkthrough_builds_every_image_the_deployment_runs():
    built = set(re.findall(r"docker build (?:-f \S+ )?-t (\S+) \.", WALKTHROUGH))
    run = {c["image"] for _, _, c in containers()}
    assert run <= built, run - built
