# The app layer of the offline-built stack image (scripts/build-stack-images-offline.sh builds
# the base from Debian packages and PyPI, then this file on top of it). Nothing here needs a
# network: the base already holds every dependency, so the project installs with --no-deps.
# Machines that reach a registry build ../Dockerfile instead.
ARG BASE=tensorjudge-stack-base:latest
FROM ${BASE}

ENV TENSORJUDGE_ENV=production \
    TENSORJUDGE_DATA_DIR=/var/lib/tensorjudge \
    TENSORJUDGE_PROBLEMS_DIR=/app/problems \
    PYTHONPATH=/app

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core core
COPY api api
COPY worker worker
COPY sandbox sandbox
COPY cli cli
COPY alembic alembic
COPY problems problems
COPY scripts/stack-postgres.sh /usr/local/bin/tj-postgres
# Editable: the code runs from /app, where the settings find alembic/ and problems/.
RUN pip install -q --no-deps --no-build-isolation --no-index -e . \
 && chmod 755 /usr/local/bin/tj-postgres \
 && useradd --system --uid 10001 --home /app tensorjudge

EXPOSE 8000
CMD ["uvicorn", "--factory", "api.main:create_app", "--host", "0.0.0.0", "--port", "8000"]
