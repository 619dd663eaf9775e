# imagebot: `docker run IMAGE` runs the bot (`imagebot run`), `docker run IMAGE demo` tries it
# offline, `docker run IMAGE report` prints spend. Secrets come from the environment at run time
# (docker run --env-file .env ...), never from the image. The SQLite database lives in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
# The dependencies first, read from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-deps .

# The bot runs as uid 10001. A bind-mounted /data must be writable by it: see README, Docker.
# /spool is where deploy/compose.yml mounts the spool its replicas share.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin imagebot \
    && mkdir -p /data /spool \
    && chown 10001:10001 /data /spool
ENV IMAGEBOT_DATABASE_URL=sqlite:////data/imagebot.db \
    IMAGEBOT_HEALTH_FILE=/tmp/imagebot-health.json
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# HTTP mode listens here (imagebot run --http); Socket Mode needs no port. `imagebot health`
# asks /healthz in HTTP mode and reads the health file the bot writes in Socket Mode.
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["imagebot", "health"]
ENTRYPOINT ["imagebot"]
CMD ["run"]
