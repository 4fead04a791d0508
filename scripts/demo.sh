#!/usr/bin/env bash
# The demo: sets up .venv, starts the CT server (SQLite in .demo/) and the example app,
# creates the demo task and its first prompt version if missing, prints the URLs.
# Ctrl-C stops both.
#
# Environment overrides:
#   KAIZEN_DEMO_CT_PORT   CT server port           (default 8000)
#   KAIZEN_DEMO_APP_PORT  example app port         (default 8001)
#   KAIZEN_DEMO_HOST      interface to listen on   (default 127.0.0.1)
#   KAIZEN_DEMO_VENV      an existing virtualenv to use instead of bootstrapping .venv
#   KAIZEN_DEMO_DIR       state folder (database, logs, API key; default .demo)
#   KAIZEN_DEMO_THRESHOLD ratings that start an optimization job (default 8)
#   KAIZEN_DEMO_LLM       an OpenAI-compatible endpoint (http://127.0.0.1:8089/v1, as
#                         scripts/local_llm.sh serves) used by the app AND by the CT server's
#                         jobs; default: the stand-in LLM, which the app serves at /stand-in/v1
#   KAIZEN_DEMO_LLM_MODEL the model name at KAIZEN_DEMO_LLM (default local-model)
#   KAIZEN_DATABASE_URL   the CT server's database (default: SQLite in the state folder)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ -n "${KAIZEN_DEMO_VENV:-}" ]; then
    VENV="$KAIZEN_DEMO_VENV"
else
    scripts/bootstrap.sh
    VENV="$ROOT/.venv"
fi
PY="$VENV/bin/python"
CT_PORT="${KAIZEN_DEMO_CT_PORT:-8000}"
APP_PORT="${KAIZEN_DEMO_APP_PORT:-8001}"
HOST="${KAIZEN_DEMO_HOST:-127.0.0.1}"
STATE="${KAIZEN_DEMO_DIR:-$ROOT/.demo}"
THRESHOLD="${KAIZEN_DEMO_THRESHOLD:-8}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"

# This checkout's code wins over whatever the virtualenv has installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LITELLM_LOCAL_MODEL_COST_MAP=True
# A local API key, made once and kept in the state folder (readable by you only).
if [ ! -s "$STATE/api-key" ]; then
    (umask 077 && "$PY" -c 'import secrets; print("kz-demo-" + secrets.token_urlsafe(24))' \
        > "$STATE/api-key")
fi
export KAIZEN_API_KEY="$(cat "$STATE/api-key")"
export KAIZEN_BASE_URL="http://127.0.0.1:$CT_PORT"
export KAIZEN_DATABASE_URL="${KAIZEN_DATABASE_URL:-sqlite+aiosqlite:///$STATE/kaizen.db}"
# The LM the CT server's jobs measure prompts with: the real model when KAIZEN_DEMO_LLM is set,
# else the stand-in the example app serves (so every job scores the active prompt and the
# candidate on held-out rated tickets, from outputs actually produced).
if [ -n "${KAIZEN_DEMO_LLM:-}" ]; then
    export EXAMPLE_LLM_BASE_URL="$KAIZEN_DEMO_LLM"
    export EXAMPLE_LLM_MODEL="${KAIZEN_DEMO_LLM_MODEL:-local-model}"
    export KAIZEN_LLM_API_BASE="$KAIZEN_DEMO_LLM"
    export KAIZEN_DEFAULT_TEACHER_MODEL="${KAIZEN_DEMO_LLM_MODEL:-local-model}"
else
    export KAIZEN_LLM_API_BASE="http://127.0.0.1:$APP_PORT/stand-in/v1"
    export KAIZEN_DEFAULT_TEACHER_MODEL="stand-in"
fi

pids=()
stop() {
    trap - INT TERM EXIT
    if [ "${#pids[@]}" -gt 0 ]; then
        echo
        echo "==> stopping the example app and the CT server"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

wait_for() {  # wait_for NAME URL LOG PID: poll URL until 200, with a deadline
    "$PY" "$ROOT/scripts/wait_for_url.py" "$@"
}

echo "==> CT server on http://$HOST:$CT_PORT (SQLite in $STATE, log $STATE/ct-server.log)"
(cd "$STATE" && "$PY" -m kaizen_server migrate) > "$STATE/ct-server.log" 2>&1 \
    || { cat "$STATE/ct-server.log"; exit 1; }
(cd "$STATE" && exec "$PY" -m kaizen_server serve --host "$HOST" --port "$CT_PORT") \
    >> "$STATE/ct-server.log" 2>&1 &
pids+=($!)
wait_for "CT server" "http://127.0.0.1:$CT_PORT/health" "$STATE/ct-server.log" "${pids[0]}"

echo "==> demo task and its first prompt version"
"$PY" -m example_app.seed_demo --threshold "$THRESHOLD"

echo "==> example app on http://$HOST:$APP_PORT (log $STATE/example-app.log)"
"$PY" -m example_app --host "$HOST" --port "$APP_PORT" \
    > "$STATE/example-app.log" 2>&1 &
pids+=($!)
wait_for "example app" "http://127.0.0.1:$APP_PORT/health" "$STATE/example-app.log" "${pids[1]}"

cat <<EOT

  Kaizen demo is running.

    Example app   http://$HOST:$APP_PORT/        <- open this in your browser
    CT server     http://$HOST:$CT_PORT          (API key in $STATE/api-key)
    Console       http://$HOST:$CT_PORT/console  (sign in with that key: versions, diffs, jobs)

  1. Pick a sample ticket (or paste one) and press "Summarize"; try several: the first
     prompt leaves the style open, so it varies.
  2. Rate each summary: "Good" for the style you like, "Bad" for the others (rate at
     least 4 "Good": the job holds some of them out to measure the prompts on).
  3. After $THRESHOLD ratings an optimization job starts: watch it on the right. It scores
     v1 and the candidate on the held-out tickets; only a better candidate becomes a draft.
  4. Open "before / after" under the job to compare both prompts' outputs; press "Activate".
  5. Summarize again: version v2, and every summary in the style you liked.

  Press Ctrl-C to stop both servers.
EOT
wait -n "${pids[@]}" || true
echo "==> a server exited; see the logs in $STATE"
