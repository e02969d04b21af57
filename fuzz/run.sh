#!/usr/bin/env bash
# Runs every fuzz target with cargo-fuzz (libFuzzer), from the committed seeds
# (fuzz/seeds/<target>).
#   fuzz/run.sh SECONDS   each target for SECONDS (default 60), growing fuzz/corpus/<target>
#                         (not committed) across runs: `make fuzz`. On nightly, under
#                         AddressSanitizer, whose allocator also lets libFuzzer stop any
#                         single allocation over -rss_limit_mb (how the symphonia bombs
#                         in tests/hostile.rs were found).
#   fuzz/run.sh --smoke-build   only the build --smoke uses (`make test` starts it early,
#                         in the background).
#   fuzz/run.sh --smoke   each target for a fixed number of runs with a fixed seed from the
#                         seeds alone: the same inputs on every machine, so CI (`make test`)
#                         is never red by luck. The targets run side by side, one per core.
#                         On the stable toolchain without a sanitizer: the crate forbids
#                         unsafe code, a panic, a timeout or an RSS over the limit still
#                         fails the run, and the build costs 525 CPU-s instead of ASAN's 843
#                         (the README's "Fuzzing"); only `make fuzz` needs nightly.
# Prints each target's executions; exits non-zero when a target finds a crash (kept in
# fuzz/artifacts/<target>/: add it to tests/ as a regression test, then fix it).
set -euo pipefail
cd "$(dirname "$0")"
targets=(audio_decode image_decode jsonld_document stream_framing manifest_lines)
# Smoke runs per target: 5 to 20 s each on one core of a 2-core machine.
declare -A smoke_runs=(
  [audio_decode]=5000 [image_decode]=30000 [jsonld_document]=200000
  [stream_framing]=400000 [manifest_lines]=300000
)
smoke=false
build_only=false
seconds=60
case "${1:-}" in
  --smoke) smoke=true ;;
  --smoke-build) smoke=true; build_only=true ;;
  "") ;;
  *) seconds="$1" ;;
esac
if $smoke; then
  fuzz=(cargo fuzz)
  build_opts=(-O -s none)
else
  fuzz=(cargo +nightly fuzz)
  build_opts=(-O)
fi
"${fuzz[@]}" build "${build_opts[@]}"
if $build_only; then exit 0; fi

# One target: its summary line on stdout, its log's tail too on a crash; exit 1 on a crash.
run_target() {
  local t="$1" corpus log start result status=0
  local -a limit
  if $smoke; then
    corpus="$(mktemp -d)"
    limit=(-runs="${smoke_runs[$t]}" -seed=1)
  else
    corpus="corpus/$t"
    mkdir -p "$corpus"
    limit=(-max_total_time="$seconds")
  fi
  log="$(mktemp)"
  start=$(date +%s)
  if "${fuzz[@]}" run "${build_opts[@]}" "$t" "$corpus" "seeds/$t" -- \
      "${limit[@]}" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    tail -40 "$log"
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  echo "fuzz $t: $result, $execs executions in $(( $(date +%s) - start )) s"
  rm -f "$log"
  if $smoke; then rm -rf "$corpus"; fi
  return "$status"
}

status=0
if $smoke; then
  # Each libFuzzer process is single-threaded, so the smoke keeps every core busy. A
  # target's output is held until it ends, so the lines never interleave.
  jobs_max="$(nproc)"
  work="$(mktemp -d)"
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
    { rc=0; run_target "$t" || rc=$?; echo "$rc" >"$work/$t.status"; } >"$work/$t.out" 2>&1 &
  done
  wait
  for t in "${targets[@]}"; do
    cat "$work/$t.out"
    [ "$(cat "$work/$t.status" 2>/dev/null)" = 0 ] || status=1
  done
  rm -rf "$work"
else
  for t in "${targets[@]}"; do
    run_target "$t" || status=1
  done
fi
exit "$status"
