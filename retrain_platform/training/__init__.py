"""Training: candidates fitted on a window of valid features and logged to MLflow."""
