# imagebot: a slim image that runs `imagebot run`. Secrets come from the environment at run
# time (docker run --env-file .env ...), never from the image. The SQLite database lives on
# the /data volume so jobs and spend survive restarts and upgrades.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin imagebot \
    && mkdir -p /data \
    && chown imagebot:imagebot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install .

ENV IMAGEBOT_DATABASE_URL=sqlite:////data/imagebot.db
VOLUME ["/data"]
WORKDIR /data
USER imagebot

# HTTP mode listens here (imagebot run --http --port 3000); Socket Mode needs no port.
EXPOSE 3000
CMD ["imagebot", "run"]
