# The same install as `make run` (requirements.lock), for production: a slim Python with
# FFmpeg and Opus.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libopus0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data

WORKDIR /app
# Exactly the packages of requirements.lock, each checked against its hash (the lock is for
# Linux x86_64 and CPython 3.11: this image on an x86_64 host), then the bot itself, built
# with the locked setuptools. The first layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY commands ./commands
COPY services ./services
RUN pip install --no-deps --no-build-isolation .

# A home of its own: deno (which yt-dlp runs for YouTube) keeps its cache there.
RUN useradd --system --uid 10001 --create-home --home-dir /home/bot bot \
    && mkdir -p /data && chown bot /data
USER bot
VOLUME ["/data"]

# Healthy while the gateway session is connected: reads DATA_DIR/heartbeat, calls nothing.
# Docker only marks the container unhealthy; the bot's own watchdog (WATCHDOG_MINUTES) exits
# when the heartbeat stays stale, and the restart policy starts it again.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "app.health"]

CMD ["python", "-m", "app"]
