#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), one after the
# other, and prints the executions and time of each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     or: make fuzz FUZZ_SECONDS=600
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# One process at a time (-jobs=1 -workers=1), so it stays gentle on a small
# machine. The seeds in fuzz/corpus/<target>/ are only read; what the fuzzer
# finds goes to a working corpus in fuzz/target/corpus/<target>/ (kept
# between runs, not committed). A crash, timeout, leak or out-of-memory
# input is written to fuzz/artifacts/<target>/ and makes the script exit 1:
# copy it to tests/fixtures/fuzz-regressions/<target>-<n>.bin, where
# `cargo test --test tests fuzz_regressions` replays it.
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(parse_line analyze_object decode_event parse_lists build_asff build_event merge_state)
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || [[ $SECONDS_PER_TARGET -lt 1 ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ="$ROOT/fuzz"
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
  echo "fuzz.sh: the $TOOLCHAIN toolchain is missing (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2
  exit 2
fi

# Per-target options: input size bound and dictionary. parse_line may reach
# the 64 KiB line limit, analyze_object the 256 KiB reader chunk.
max_len() {
  case $1 in
    parse_line) echo 70000 ;;
    analyze_object) echo 300000 ;;
    *) echo 16384 ;;
  esac
}
# analyze_object starts threads (the streaming reader); glibc registers a
# 32-byte thread-local destructor list per thread that LeakSanitizer reports
# as a leak from __cxa_thread_atexit_impl (a false positive, not our
# allocation), so leak detection is off for that target only.
leaks() {
  case $1 in
    analyze_object) echo 0 ;;
    *) echo 1 ;;
  esac
}
dict() {
  case $1 in
    decode_event) echo "$FUZZ/dicts/event.dict" ;;
    *) echo "$FUZZ/dicts/flowlog.dict" ;;
  esac
}

# Artifacts already there before this run (an old crash is not a new one).
list_artifacts() {
  find "$FUZZ/artifacts/$1" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' -o -name 'oom-*' \) \
    2>/dev/null | sort || true
}

cd "$FUZZ"
echo "== building ${TARGETS[*]} (cargo +$TOOLCHAIN fuzz build)"
for t in "${TARGETS[@]}"; do
  cargo "+$TOOLCHAIN" fuzz build "$t"
done
TRIPLE=$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')
BIN_DIR="$FUZZ/target/$TRIPLE/release"

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  work="$FUZZ/target/corpus/$t"
  logs="$FUZZ/target/fuzz-logs/$t"
  mkdir -p "$work" "$logs" "$FUZZ/artifacts/$t"
  before=$(list_artifacts "$t")
  log="$logs/run.log"
  echo "== $t: ${SECONDS_PER_TARGET}s (log: ${log#"$ROOT"/})"
  set +e
  # -jobs=1 runs the fuzzer in one child process whose output libFuzzer
  # writes to fuzz-0.log in the working directory, then copies to stderr.
  (cd "$logs" && "$BIN_DIR/$t" "$work" "$FUZZ/corpus/$t" \
    -jobs=1 -workers=1 \
    -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=20 -rss_limit_mb=2048 -detect_leaks="$(leaks "$t")" \
    -max_len="$(max_len "$t")" -dict="$(dict "$t")" \
    -artifact_prefix="$FUZZ/artifacts/$t/" \
    -print_final_stats=1) >"$log" 2>&1
  rc=$?
  set -e
  # libFuzzer's last line: "Done 123456 runs in 60 second(s)".
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
  runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")
  secs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  new=$(comm -13 <(echo "$before") <(list_artifacts "$t") | sed '/^$/d')
  if [[ -n $done_line && $secs -gt 0 ]]; then
    line=$(printf '%-15s %10s runs in %4ss  %8s exec/s  %s' "$t" "$runs" "$secs" "$((runs / secs))" "$cov")
  elif [[ -n $done_line ]]; then
    line=$(printf '%-15s %10s runs in %4ss  %s' "$t" "$runs" "$secs" "$cov")
  else
    # Stopped early (a crash): libFuzzer's -print_final_stats lines.
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
    line=$(printf '%-15s %10s runs, stopped early' "$t" "${runs:-?}")
  fi
  if [[ -n $new || $rc -ne 0 ]]; then
    failed+=("$t")
    line="$line  FAILED (exit $rc)"
    echo "$line"
    echo "-- ${log#"$ROOT"/}, last lines:"
    tail -n 60 "$log"
    for a in $new; do echo "-- artifact: ${a#"$ROOT"/}"; done
  else
    echo "$line"
  fi
  summary+=("$line")
done

echo
echo "== fuzz summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: failures in ${failed[*]}: see fuzz/artifacts/ and the logs above" >&2
  exit 1
fi
