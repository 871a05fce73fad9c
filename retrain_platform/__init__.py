"""retrain_platform: keeps machine-learning models fresh without a person in the loop, on Dagster assets.

The data path, top to bottom: ``spec`` (what a user writes) → ``ingest`` → ``monitoring`` (drift, performance)
→ ``training`` → ``promotion`` (the gate) → ``registry`` (MLflow), with ``automation`` running the loop and
``definitions`` assembling it for Dagster.
"""
