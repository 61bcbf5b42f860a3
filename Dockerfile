# LLM Hub: the console and the gateway API in one image. Data (the SQLite file unless
# LLMHUB_DATABASE_URL names a database, the usage journal, the secret key unless LLMHUB_SECRET_KEY
# is given) lives in the /data volume. See README "Containers".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a change of the code alone reuses this layer.
COPY pyproject.toml README.md ./
COPY app ./app
COPY services ./services
COPY pages ./pages
COPY components ./components
RUN pip install .

COPY run.py ./
COPY data/prices.json data/context_windows.json ./data/
COPY data/tokenizers ./data/tokenizers

RUN useradd --system --uid 10001 --no-create-home --home-dir /data llmhub \
    && mkdir -p /data \
    && chown llmhub:llmhub /data

USER 10001

ENV LLMHUB_DATA_DIR=/data \
    LLMHUB_HOST=0.0.0.0 \
    LLMHUB_PORT=8080

VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('LLMHUB_PORT', '8080'), timeout=4)"]

CMD ["python", "run.py"]
