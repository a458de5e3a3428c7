# vro-chatops: the bot in a slim image that runs as a non-root user.
#
# Build:      docker build -t vro-chatops .
#
# Run with SQLite (one replica): the database, and with it the audit log, lives in the volume
# mounted at /var/lib/vro-bot/data (DATABASE_URL points there by default). Every command below
# mounts the same volume, so the migration and the bot see the same file.
#
#   docker volume create vro-bot-data
#   docker run --rm --env-file .env -v vro-bot-data:/var/lib/vro-bot/data vro-chatops vro-bot db upgrade
#   docker run --rm --env-file .env -v vro-bot-data:/var/lib/vro-bot/data vro-chatops vro-bot check
#   docker run -d --name vro-bot --restart unless-stopped --env-file .env \
#     -v vro-bot-data:/var/lib/vro-bot/data -p 3000:3000 vro-chatops
#
# Back up the volume (or use `vro-bot audit export`) before upgrades; an upgrade is: build or pull
# the new image, run `vro-bot db upgrade` as above, then replace the container.
#
# Run with PostgreSQL (several replicas): compose.yml (it sets DATABASE_URL and migrates first).
#
# Migrations: `vro-bot run` refuses to start against a database whose schema is behind this
# version and says to run `vro-bot db upgrade`, or set VRO_BOT_AUTO_MIGRATE=true to upgrade at
# start (fine for a single replica).
#
# /healthz, /readyz and /metrics listen on VRO_BOT_HTTP_PORT (3000), or on VRO_BOT_ADMIN_PORT
# when set (publish that port only to the monitoring network). `docker stop` sends SIGINT; the
# bot is gone within 5 s, well inside Docker's 10 s grace.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The same install steps as the fresh environment of .ci/run, without the dev extra, pinned by
# constraints.txt (tests/ops/test_packaging.py keeps the two in step).
RUN python -m venv /opt/venv
RUN /opt/venv/bin/pip install --quiet --upgrade pip
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --quiet -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////var/lib/vro-bot/data/vro-bot.db
RUN groupadd --system --gid 10001 vro-bot \
 && useradd --system --uid 10001 --gid vro-bot --home-dir /var/lib/vro-bot --create-home \
    --shell /usr/sbin/nologin vro-bot \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/vro-bot/data
COPY --from=builder /opt/venv /opt/venv
# The working directory is the bot's own (an optional .env is read from here); the data folder
# is a volume, created above with the bot's owner so a new named volume inherits it.
WORKDIR /var/lib/vro-bot
VOLUME ["/var/lib/vro-bot/data"]
USER 10001:10001
EXPOSE 3000
# slim has no curl: probe /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('VRO_BOT_ADMIN_PORT') or os.environ.get('VRO_BOT_HTTP_PORT', '3000')), timeout=4)"]
# SIGINT (or SIGTERM): the bot closes Slack, stops its loops and exits 0.
STOPSIGNAL SIGINT
CMD ["vro-bot", "run"]
