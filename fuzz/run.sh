#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on nightly with cargo-fuzz, starting from
# the committed seeds (fuzz/seeds/<target>) and the corpus grown by earlier runs
# (fuzz/corpus/<target>, not committed). Prints each target's executions; exits non-zero
# when a target finds a crash (kept in fuzz/artifacts/<target>/: add it to tests/ as a
# regression test, then fix it).
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
targets=(audio_decode image_decode jsonld_document stream_framing manifest_lines)
cargo +nightly fuzz build -O
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  if cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    tail -40 "$log"
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  echo "fuzz $t: $result, $execs executions in ${seconds} s"
  rm -f "$log"
done
exit "$status"
