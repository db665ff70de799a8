# The orchestrator image: web app, workers and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The screens' PNG slides are rendered by Debian's Chromium (driven by Playwright; never a downloaded browser), which
# finds fonts through fontconfig. The CJK font itself is a Python dependency (noto-cjk-sans-otc, Noto Sans CJK),
# installed below with the others and checked at the end of the build.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fontconfig \
    && rm -rf /var/lib/apt/lists/*

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

# Fail the build, not the first bulletin-board delivery, when the browser or the CJK font is missing.
RUN python -c "from channels.screens.render import chromium_available, packaged_cjk_font; \
assert chromium_available(), 'chromium'; assert packaged_cjk_font(), 'noto-cjk-sans-otc'"

RUN useradd --system --uid 10001 --home /app orch && mkdir -p /data && chown orch /data
USER orch
ENV ORCH_VAR_DIR=/data
EXPOSE 8000
CMD ["orchestrator", "serve", "--host", "0.0.0.0", "--no-worker", "--no-beat"]
