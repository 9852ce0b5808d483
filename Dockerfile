# The service image: api, worker-cpu and worker-gpu run this image with different commands.
# Student code never runs in it: workers start one sandbox container per run
# (sandbox/Dockerfile, TENSORJUDGE_SANDBOX=docker) through the host's Docker socket.
#   docker build -t tensorjudge:latest .
# Without a registry: scripts/build-stack-images-offline.sh (docs/deploy.md).
# PYTHON_IMAGE: any Debian-based image with Python 3.11 and pip on PATH (a mirror's copy of
# python:3.11-slim, or the offline-built base, which is how this file is checked here).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TENSORJUDGE_ENV=production \
    TENSORJUDGE_DATA_DIR=/var/lib/tensorjudge \
    TENSORJUDGE_PROBLEMS_DIR=/app/problems \
    PYTHONPATH=/app

RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch first and from the CPU index: the judge process itself never needs CUDA (sandboxes do).
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md ./
COPY core core
COPY api api
COPY worker worker
COPY sandbox sandbox
COPY cli cli
COPY alembic alembic
COPY alembic.ini ./
COPY problems problems
# Editable: the code runs from /app, where the settings find alembic/ and problems/ (a
# site-packages copy would look for alembic.ini beside itself).
RUN pip install -e . && useradd --system --uid 10001 --home /app tensorjudge

# Workers talk to the Docker socket; they run as root inside this container unless the
# socket's group is passed in (see docs/service.md). The API needs no socket.
EXPOSE 8000
CMD ["uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000"]
