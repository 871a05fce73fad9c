"""Production storage: Dagster's run/event/schedule storage and MLflow's tracking store and registry in PostgreSQL.

The session gets two fresh, uniquely named databases on the server at 127.0.0.1:5432 (user ``postgres``, trust
auth), created through the ``postgres`` database and dropped at the end (``WITH (FORCE)``, so connections still
pooled by Dagster or MLflow do not block the drop). Two, not one: Dagster and MLflow both own a table named
``runs``, so they cannot share a schema; in production they are separate databases too.

Both use the ``postgresql+psycopg2`` scheme: with SQLAlchemy 2.1 a bare ``postgresql://`` means the psycopg 3
driver, which is not installed (see the field notes).

- ``test_model_lifecycle_is_stored_in_postgres`` drives one model with the conftest's ``Platform`` on a
  Postgres-backed instance and MLflow: three good days with Dagster's automation evaluated each morning (it
  requests the first model on the third), the retrain and promotion; then three days of a new regime arriving
  together (a delayed feed, so the newest of them is the latest partition when the automation next runs), the
  drift-triggered request, the retrain and the gate. It then reads the evidence with plain SQL (materializations
  per partition, check executions with their status, runs, the MLflow ``champion`` alias and gate tags) and
  through a freshly opened instance and registry, and checks that nothing fell back to SQLite.
- ``test_repo_dagster_yaml_is_valid`` loads the repo's ``dagster.yaml`` with Dagster's instance config schema
  (and shows that a typo would be refused), then builds an instance from it.
- ``test_repo_dagster_yaml_runs_on_postgres_storage`` adds the Postgres storage block the Helm chart supplies to
  the repo's settings (queued runs with ``max_concurrent_runs``, threaded sensors, run monitoring, retention) and
  builds a working instance on the test database: the combination production runs.

If PostgreSQL is not reachable the Postgres tests fail with the reason when ``CI`` is set (CI must provide the
server), and are skipped otherwise. About 30-60 seconds on two cores, most of it MLflow's schema migrations and
the two trainings.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from retrain_platform.keys import ModelKeys
from retrain_platform.registry import ModelRegistry
from retrain_platform.status import status_board
from retrain_platform_tests.conftest import START, Platform, credit_frame, make_spec
from retrain_platform_tests.integration.regimes import SPEC_OVERRIDES, drifted_frame

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
SCHEME = "postgresql+psycopg2"
REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _connect(dbname: str):
    import psycopg2

    return psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=dbname, connect_timeout=5)


@dataclass(frozen=True)
class PostgresDatabases:
    """The session's databases and how each client reaches them."""

    dagster_db: str
    mlflow_db: str

    @property
    def mlflow_uri(self) -> str:
        return f"{SCHEME}://{USER}@{HOST}:{PORT}/{self.mlflow_db}"

    def storage_config(self) -> dict:
        """The ``storage:`` block of a Postgres-backed ``dagster.yaml`` (as the Helm chart writes it)."""
        return {
            "postgres": {
                "postgres_db": {
                    "username": USER,
                    "hostname": HOST,
                    "db_name": self.dagster_db,
                    "port": PORT,
                    "scheme": SCHEME,
                }
            }
        }

    def query(self, dbname: str, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read-only query, on a connection of its own (not Dagster's or MLflow's)."""
        connection = _connect(dbname)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """Two fresh databases for this session (Dagster's and MLflow's), dropped at the end."""
    try:
        admin = _connect("postgres")
    except Exception as err:  # psycopg2.OperationalError, or psycopg2 itself missing
        detail = " ".join(str(err).split())
        message = (
            f"PostgreSQL is not reachable at {USER}@{HOST}:{PORT}, database 'postgres' ({detail}). The "
            "postgres-marked tests need it: start the server (trust auth for user postgres) or deselect them "
            "with -m 'not postgres'."
        )
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from psycopg2 import sql

    admin.autocommit = True
    base = f"retrain_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    databases = PostgresDatabases(dagster_db=f"{base}_dagster", mlflow_db=f"{base}_mlflow")
    created = []
    try:
        with admin.cursor() as cursor:
            for name in (databases.dagster_db, databases.mlflow_db):
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                created.append(name)
        yield databases
    finally:
        with admin.cursor() as cursor:
            for name in created:
                # FORCE ends the connections Dagster's and MLflow's engines still hold (PostgreSQL 13+).
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def succeeded(run) -> bool:
    """``run.success``, failing with the run's step errors instead of a bare ``False``."""
    if not run.success:
        errors = [e.event_specific_data.error.to_string() for e in run.all_events if e.is_step_failure]
        pytest.fail(f"run {run.run_id} ({run.job_def.name}) failed:\n" + "\n".join(errors or ["(no step failure)"]))
    return True


def postgres_instance(folder: Path, databases: PostgresDatabases, base: dict | None = None) -> DagsterInstance:
    """A Dagster instance from a ``dagster.yaml`` in ``folder``: ``base`` settings plus Postgres storage."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"telemetry": {"enabled": False}, **(base or {}), "storage": databases.storage_config()}
    (folder / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return DagsterInstance.from_config(str(folder))


def test_model_lifecycle_is_stored_in_postgres(tmp_path, postgres):
    spec = make_spec(**SPEC_OVERRIDES)
    keys = ModelKeys(spec.name)
    registry = ModelRegistry(tracking_uri=postgres.mlflow_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    dagster_dir = tmp_path / "dagster"
    instance = postgres_instance(dagster_dir, postgres)
    try:
        platform = Platform(spec, tmp_path / "home", instance, registry)

        # three good days, the automation evaluated each morning: the first model is requested on the third
        good = [START + dt.timedelta(days=i) for i in range(3)]
        requested = []
        for day in good:
            platform.land(day, credit_frame(day))
            assert succeeded(platform.ingest(day))
            requested.append(platform.evaluate(day).get_num_requested(keys.candidate_model))
        assert requested == [0, 0, 1]
        assert succeeded(platform.retrain())
        assert registry.champion(spec.name).version == "1"
        # The daemon evaluates again soon after a run (the replay does too, until quiet): nothing more is due.
        # Skipping this would swallow a trigger that first fires on the next evaluation, because since_last_handled
        # resets on that same tick (the candidate was requested and materialized since the previous one).
        assert platform.evaluate(good[-1]).get_num_requested(keys.candidate_model) == 0

        # a new regime: three days arrive together (a delayed feed); the newest one's drift check fails
        drifted = [START + dt.timedelta(days=3 + i) for i in range(3)]
        for day in drifted:
            platform.land(day, drifted_frame(day))
            assert succeeded(platform.ingest(day))
        assert platform.evaluate(drifted[-1]).get_num_requested(keys.candidate_model) == 1
        assert succeeded(platform.retrain())
        assert platform.evaluate(drifted[-1]).get_num_requested(keys.candidate_model) == 0
    finally:
        instance.dispose()

    days = [d.isoformat() for d in good + drifted]
    dagster_db, mlflow_db = postgres.dagster_db, postgres.mlflow_db

    # Dagster's storage, read with plain SQL: every partition's features, every check execution, every run
    materialized = postgres.query(
        dagster_db,
        "SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s",
        (keys.features.to_string(),),
    )
    assert sorted(p for (p,) in materialized) == days
    checks = postgres.query(
        dagster_db,
        "SELECT check_name, partition, execution_status FROM asset_check_executions WHERE asset_key = %s",
        (keys.drift_report.to_string(),),
    )
    drift_status = {partition: status for name, partition, status in checks if name == keys.drift_check.name}
    assert drift_status == {
        **{d.isoformat(): "SUCCEEDED" for d in good},  # no champion yet: nothing to compare, passes
        **{d.isoformat(): "FAILED" for d in drifted},
    }, checks
    schema = postgres.query(
        dagster_db,
        "SELECT execution_status FROM asset_check_executions WHERE asset_key = %s AND check_name = %s",
        (keys.features.to_string(), keys.schema_check.name),
    )
    assert [s for (s,) in schema] == ["SUCCEEDED"] * len(days)
    runs = postgres.query(dagster_db, "SELECT status FROM runs")
    assert [s for (s,) in runs] == [DagsterRunStatus.SUCCESS.value] * (len(days) + 2)

    # MLflow's registry, read with plain SQL: the champion alias moved to the drift candidate through the gate
    alias = postgres.query(
        mlflow_db,
        "SELECT version FROM registered_model_aliases WHERE name = %s AND alias = 'champion'",
        (spec.name,),
    )
    assert alias == [(2,)] or alias == [("2",)], alias
    tags = dict(
        postgres.query(
            mlflow_db,
            "SELECT key, value FROM model_version_tags WHERE name = %s AND version = 2",
            (spec.name,),
        )
    )
    assert tags.get("gate.promote") == "True", tags
    assert "drift" in tags.get("reason", ""), tags

    # the same, through a freshly opened instance and registry (nothing was only cached in memory)
    reopened = DagsterInstance.from_config(str(dagster_dir))
    try:
        gate = reopened.get_latest_materialization_event(keys.production_model).asset_materialization.metadata
        assert gate["decision"].value == "promoted"
        assert str(gate["candidate_version"].value) == "2"
        candidate = reopened.get_latest_materialization_event(keys.candidate_model).asset_materialization.metadata
        assert "drift" in candidate["reason"].value
        assert len(reopened.get_runs()) == len(days) + 2
        # The status board's one-query read of the check executions table works on Postgres too.
        (row,) = status_board([spec], ModelRegistry(tracking_uri=postgres.mlflow_uri), reopened)
        assert (row.champion_version, row.newest_valid_partition, row.last_decision) == ("2", days[-1], "promoted")
        assert row.drift_partition == days[-1] and row.drift_share is not None and row.error is None
    finally:
        reopened.dispose()
    assert ModelRegistry(tracking_uri=postgres.mlflow_uri).champion(spec.name).version == "2"

    # nothing fell back to an embedded store
    assert not [p for p in tmp_path.rglob("*.db")], list(tmp_path.rglob("*.db"))


def test_repo_dagster_yaml_is_valid(tmp_path):
    config, custom_class = dagster_instance_config(str(REPO_DAGSTER_YAML.parent))
    assert custom_class is None
    assert config["telemetry"]["enabled"] is False  # the README promises no telemetry

    # the schema check has teeth: a misspelt section is refused
    typo = tmp_path / "typo"
    typo.mkdir()
    (typo / "dagster.yaml").write_text(REPO_DAGSTER_YAML.read_text().replace("run_coordinator:", "run_cordinator:"))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(typo))

    # every configured class loads and accepts its config (the run coordinator's is checked only here)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_runs() == []
    finally:
        instance.dispose()


def test_repo_dagster_yaml_runs_on_postgres_storage(tmp_path, postgres):
    settings = yaml.safe_load(REPO_DAGSTER_YAML.read_text())
    assert "storage" not in settings, "the repo's dagster.yaml is the laptop config; Helm supplies storage"
    instance = postgres_instance(tmp_path / "dagster", postgres, base=settings)
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        instance.get_runs(limit=1)
        instance.event_log_storage.get_maximum_record_id()
    finally:
        instance.dispose()
