# The same install as `make run`, for production: a slim Python with FFmpeg and Opus.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libopus0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY commands ./commands
COPY services ./services
RUN pip install .

RUN useradd --system --uid 10001 --home-dir /app bot \
    && mkdir -p /data && chown bot /data
USER bot
VOLUME ["/data"]

CMD ["python", "-m", "app"]
