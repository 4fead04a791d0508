#!/usr/bin/env bash
# One command for the whole suite: sets up .venv, starts local services, then lint, types, tests.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/sdk -x
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
scripts/services.sh
scripts/browser.sh

export LITELLM_LOCAL_MODEL_COST_MAP=True
echo "==> ruff"
.venv/bin/ruff check .
echo "==> ruff format --check"
.venv/bin/ruff format --check .
echo "==> mypy --strict"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/pytest "$@"
