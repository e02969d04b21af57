#!/usr/bin/env bash
# Usage: tests/llm/serve.sh PORT [extra llama-server args...]
# Execs the real llama-server (installed by tests/llm/setup.sh) on 127.0.0.1:PORT serving
# SmolLM2-135M-Instruct (F16) as model "smollm2-135m". Works from any cwd. Because it
# `exec`s, the caller's child pid IS the server: killing it stops the server.
# Readiness: poll GET /health until 200 (about 1 s on 2 cores).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=paths.sh
. "$HERE/paths.sh"
BIN="$SERVER_BIN_DIR"
MODEL="$MODEL_DIR/$MODEL_FILE"

PORT="${1:-}"
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] ||
  { echo "usage: $0 PORT [extra llama-server args]" >&2; exit 2; }
shift

if [ ! -x "$BIN/llama-server" ] || [ ! -s "$MODEL" ]; then
  echo "serve.sh: llama-server/model not installed; run tests/llm/setup.sh first" >&2
  exit 3
fi

export LD_LIBRARY_PATH="$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# --device none: CPU only, even where a Vulkan GPU exists (deterministic across machines).
# --no-cache-prompt: every request evaluates its whole prompt, so outputs and usage counts
#   do not depend on what the slot served before (costs ~0.2 s per short prompt).
# -lv 2: warnings and errors only. --offline: never touch the network.
exec "$BIN/llama-server" \
  -m "$MODEL" --alias smollm2-135m \
  --host 127.0.0.1 --port "$PORT" \
  -c 4096 -np 2 -t 1 \
  --device none --offline --no-webui --no-cache-prompt \
  -lv 2 --log-colors off \
  "$@"
