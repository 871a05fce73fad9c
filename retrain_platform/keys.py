"""The asset and check keys (and job names) of one model's graph, in one place so nothing spells them by hand."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckKey, AssetKey


@dataclass(frozen=True)
class ModelKeys:
    """Keys of a model's assets (prefixed by the model name) and of the checks that drive automation."""

    model: str

    @property
    def ingest_job(self) -> str:
        """The partitioned job the landing sensor launches."""
        return f"{self.model}_ingest"

    @property
    def retrain_job(self) -> str:
        """The job that trains a candidate and runs the gate."""
        return f"{self.model}_retrain"

    @property
    def live_job(self) -> str:
        """The partitioned job the feedback sensor launches to score a day of live traffic."""
        return f"{self.model}_live"

    def asset(self, name: str) -> AssetKey:
        """The key of one of this model's assets."""
        return AssetKey([self.model, name])

    @property
    def raw_batch(self) -> AssetKey:
        """The landed file, unchanged, per day."""
        return self.asset("raw_batch")

    @property
    def features(self) -> AssetKey:
        """Validated, typed features per day."""
        return self.asset("features")

    @property
    def drift_report(self) -> AssetKey:
        """Drift of each day against the champion's training window."""
        return self.asset("drift_report")

    @property
    def champion_performance(self) -> AssetKey:
        """The champion's metric on each newly labelled day."""
        return self.asset("champion_performance")

    @property
    def candidate_model(self) -> AssetKey:
        """The newest trained candidate (an MLflow version)."""
        return self.asset("candidate_model")

    @property
    def production_model(self) -> AssetKey:
        """The champion (the MLflow `champion` alias)."""
        return self.asset("production_model")

    @property
    def schema_check(self) -> AssetCheckKey:
        """Blocking: the partition matches the spec's schema (else it is quarantined)."""
        return AssetCheckKey(self.features, "schema")

    @property
    def data_quality_check(self) -> AssetCheckKey:
        """Fails (warning) when a kept partition had problems its spec tolerates (mapped categories, nulls)."""
        return AssetCheckKey(self.features, "data_quality")

    @property
    def volume_check(self) -> AssetCheckKey:
        """Fails (warning) when enough new valid rows have landed to (re)train."""
        return AssetCheckKey(self.features, "training_volume")

    @property
    def drift_check(self) -> AssetCheckKey:
        """Fails (warning) when the drifted share of columns reaches the spec's threshold."""
        return AssetCheckKey(self.drift_report, "drift")

    @property
    def performance_check(self) -> AssetCheckKey:
        """Fails (warning) when the champion's metric on a new partition is worse than the floor."""
        return AssetCheckKey(self.champion_performance, "performance_floor")

    @property
    def age_check(self) -> AssetCheckKey:
        """Fails (warning) when the champion's training data is older than the spec's maximum model age."""
        return AssetCheckKey(self.champion_performance, "champion_age")

    @property
    def live_performance(self) -> AssetKey:
        """The champion's metric on live traffic whose delayed labels have arrived, per prediction day."""
        return self.asset("live_performance")

    @property
    def live_performance_check(self) -> AssetCheckKey:
        """Fails (warning) when the live metric breaks the spec's performance triggers (a retrain trigger)."""
        return AssetCheckKey(self.live_performance, "live_performance")

    @property
    def prediction_drift_check(self) -> AssetCheckKey:
        """Fails (warning) when a day's live answers are distributed unlike the champion's holdout answers."""
        return AssetCheckKey(self.live_performance, "prediction_drift")

    def checks(self, *, live: bool) -> list[AssetCheckKey]:
        """Every check of the model's graph; the live ones only for a model with a ``feedback`` section."""
        checks = [
            self.schema_check,
            self.data_quality_check,
            self.volume_check,
            self.drift_check,
            self.performance_check,
            self.age_check,
        ]
        return checks + ([self.live_performance_check, self.prediction_drift_check] if live else [])
