# syntax=docker/dockerfile:1
# The code location's image: `dagster code-server start` serving analytics_assets.definitions on
# port 4000. The same image runs every run worker (K8sRunLauncher), so it holds the product and
# its locked dependencies only: no dev group, no analytics_dev, no tests (.dockerignore).
#
#   docker build -t REGISTRY/analytics-assets:TAG .
#
# The same image runs the webhook receiver as an alternative command (deploy/webhooks.yaml):
#
#   docker run -p 3030:3030 -e ANALYTICS_WEBHOOK_SECRET=... IMAGE \
#       analytics-webhooks --host 0.0.0.0 --port 3030
#
# It includes the `k8s` extra (dagster-k8s): a run worker loads the instance, whose run launcher
# is the K8sRunLauncher on Kubernetes (deploy/helm/values.yaml).

ARG PYTHON_VERSION=3.11

# ---- build: resolve nothing, install exactly uv.lock into /opt/venv
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# The uv of the Makefile; the lock file is read by this version in CI.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# Dependencies first, from the lock alone: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python \
        --extra k8s
# Then the product, as a wheel (not editable: the image needs no source tree).
COPY README.md ./
COPY analytics_assets ./analytics_assets
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --python /usr/local/bin/python \
        --extra k8s

# ---- runtime: the venv and a non-root user, nothing else
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --create-home dagster \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/data \
    && chown -R dagster:dagster /opt/dagster
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    ANALYTICS_DUCKDB_PATH=/opt/dagster/data/analytics_warehouse.duckdb
USER 10001:10001
WORKDIR /opt/dagster
# 4000: the code server (default command); 3030: analytics-webhooks (alternative command).
EXPOSE 4000 3030
# The Helm chart's readiness probe runs the same command.
HEALTHCHECK --interval=20s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-h", "localhost", "-p", "4000"]
# The code server is the default command, not an ENTRYPOINT: the Helm chart (and the
# K8sRunLauncher, for run workers) pass a whole `dagster ...` command as the container's args,
# which an ENTRYPOINT would prefix.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
    "-m", "analytics_assets.definitions", "--location-name", "analytics_assets"]
