# One image for the CT server, its worker and the example app (docker-compose.yml picks the
# command). Build: docker build -t kaizen .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True

# git: the CT server opens pull requests of optimized prompts in local git repositories too.
# libpq5: psycopg (the PostgreSQL job queue of the worker) loads it at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY kaizen_sdk ./kaizen_sdk
COPY kaizen_fastapi ./kaizen_fastapi
COPY kaizen_server ./kaizen_server
RUN pip install ".[server]"
# The example app is not part of the wheel: it runs from /app.
COPY example_app ./example_app

RUN useradd --create-home --uid 10001 kaizen && mkdir -p /data && chown kaizen /data
USER kaizen
# The SQLite default lands in /data when no KAIZEN_DATABASE_URL is given.
WORKDIR /data
ENV PYTHONPATH=/app

EXPOSE 8000 8001
CMD ["kaizen-server", "serve", "--host", "0.0.0.0", "--port", "8000"]
