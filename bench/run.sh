#!/usr/bin/env bash
# Run every Kaizen benchmark and write bench/results/ (see bench/README.md).
# Usage: bench/run.sh [--smoke] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -c "import langfuse, matplotlib" 2>/dev/null || .venv/bin/pip install -q -e ".[dev,bench]"
export LITELLM_LOCAL_MODEL_COST_MAP=True
exec .venv/bin/python -m bench.run "$@"
