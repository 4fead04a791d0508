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
# Dependencies first, from pyproject.toml alone, so a code change reuses this layer: the
# packages are empty stand-ins (and the readme a blank one) while pip resolves and installs
# the server extra's dependencies; the project itself is installed after the source is copied.
COPY pyproject.toml ./
RUN mkdir kaizen_sdk kaizen_fastapi kaizen_server \
    && touch README.md kaizen_sdk/__init__.py kaizen_fastapi/__init__.py kaizen_server/__init__.py \
    && pip install ".[server]" \
    && pip uninstall --yes kaizen \
    && rm -rf README.md kaizen_sdk kaizen_fastapi kaizen_server build
COPY README.md ./
COPY kaizen_sdk ./kaizen_sdk
COPY kaizen_fastapi ./kaizen_fastapi
COPY kaizen_server ./kaizen_server
RUN pip install --no-deps .
# The example app is not part of the wheel: it runs from /app.
COPY example_app ./example_app

RUN useradd --create-home --uid 10001 kaizen && mkdir -p /data && chown kaizen /data
USER kaizen
# The SQLite default lands in /data when no KAIZEN_DATABASE_URL is given.
WORKDIR /data
ENV PYTHONPATH=/app

EXPOSE 8000 8001
CMD ["kaizen-server", "serve", "--host", "0.0.0.0", "--port", "8000"]
