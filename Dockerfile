# vro-chatops: the bot in a slim image that runs as a non-root user.
#
#   docker build -t vro-chatops .
#   docker run --rm --env-file .env vro-chatops vro-bot db upgrade     # once per release
#   docker run -d --env-file .env -p 3000:3000 vro-chatops              # vro-bot run
#
# Migrations: `vro-bot run` refuses to start against a database whose schema is behind this
# version and says to run `vro-bot db upgrade`. Run that once per release as a deployment step
# (compose.yml does it in its one-shot `migrate` service before the bot starts), or set
# VRO_BOT_AUTO_MIGRATE=true to upgrade at start (fine for a single replica).
#
# /healthz, /readyz and /metrics listen on VRO_BOT_HTTP_PORT (3000) in HTTP and Socket Mode.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The same install steps as the fresh environment of .ci/run, without the dev extra
# (tests/ops/test_packaging.py keeps the two in step).
RUN python -m venv /opt/venv
RUN /opt/venv/bin/pip install --quiet --upgrade pip
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --quiet .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 vro-bot \
 && useradd --system --uid 10001 --gid vro-bot --home-dir /var/lib/vro-bot --create-home \
    --shell /usr/sbin/nologin vro-bot
COPY --from=builder /opt/venv /opt/venv
# The working directory is the bot's own: the default SQLite file and an optional .env live here.
WORKDIR /var/lib/vro-bot
USER 10001:10001
EXPOSE 3000
# slim has no curl: probe /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VRO_BOT_HTTP_PORT', '3000'), timeout=4)"]
# SIGINT lets asyncio cancel the bot's tasks and close connections on `docker stop`.
STOPSIGNAL SIGINT
CMD ["vro-bot", "run"]
