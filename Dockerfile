# The orchestrator image: web app, workers and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY orchestrator/__init__.py orchestrator/__init__.py
COPY channels/__init__.py channels/__init__.py
RUN pip install -e .

# Run from the source tree: settings find config/, templates/ and migrations/ next to the package.
COPY alembic.ini ./
COPY migrations migrations
COPY templates templates
COPY config config
COPY channels channels
COPY orchestrator orchestrator

RUN useradd --system --uid 10001 --home /app orch && mkdir -p /data && chown orch /data
USER orch
ENV ORCH_VAR_DIR=/data
EXPOSE 8000
CMD ["orchestrator", "serve", "--host", "0.0.0.0", "--no-worker", "--no-beat"]
