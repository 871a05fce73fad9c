# One image for every role of the platform on Kubernetes:
#   code location: dagster code-server start -h 0.0.0.0 -p 4000 -m retrain_platform.definitions   (the default)
#   webserver:     dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml
#   daemon:        dagster-daemon run -w workspace.yaml
# Binding 0.0.0.0 is deliberate here: inside a pod the Service, not the host, decides who can reach it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    RETRAIN_HOME=/var/lib/retrain \
    MLFLOW_DISABLE_TELEMETRY=true

WORKDIR /opt/retrain_platform

# Dependencies first, from the same constraints CI installs, so code changes do not rebuild this layer.
COPY pyproject.toml constraints.txt README.md ./
COPY retrain_platform/__init__.py retrain_platform/__init__.py
RUN python -m pip install -c constraints.txt -e . \
    && useradd --create-home --uid 10001 retrain \
    && mkdir -p "$DAGSTER_HOME" "$RETRAIN_HOME" \
    && chown retrain "$DAGSTER_HOME" "$RETRAIN_HOME"

COPY dagster.yaml workspace.yaml ./
COPY retrain_platform retrain_platform
RUN cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

USER 10001
EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "retrain_platform.definitions"]
