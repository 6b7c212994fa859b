#!/usr/bin/env bash
# Runs every benchmark (criterion shapes, then shapes again for
# victim-pool with the fallback fence pair, cleanup pause / ExpensiveNew,
# memory, Go's sync.Pool when `go` is available, callgrind instruction counts
# when `valgrind` is) and writes target/bench-report/report.md,
# plot.{png,svg} and plot-shapes.{png,svg}.
#
#   benches/run.sh                 # full run (about 30 minutes on 2 cores)
#   BENCH_QUICK=1 benches/run.sh   # quick run (a few minutes)
#   benches/run.sh pool.box_u64    # extra args: criterion filter for `shapes`
#                                  # (both runs of it)
#
# Env: BENCH_QUICK, BENCH_REPORT_DIR (default <repo>/target/bench-report),
# GO (path of the go binary), BENCH_NO_GO=1 to skip Go.
set -euo pipefail
# The first shapes run and the pause/memory/instruction runs are the
# membarrier mode (where the kernel has it); only the second shapes run and
# the victim-pool-fallback instruction count force the fallback.
unset VICTIM_POOL_NO_MEMBARRIER BENCH_FALLBACK

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
report="${BENCH_REPORT_DIR:-$repo/target/bench-report}"
mkdir -p "$report"
report="$(cd "$report" && pwd)"
export BENCH_REPORT_DIR="$report"
export CRITERION_HOME="$report/criterion"
rm -rf "$CRITERION_HOME" "$report/go.txt" "$report/pause.json" "$report/memory.json" \
  "$report/instructions.json" "$report/cpu.json" "$report"/fence-mode-*.txt

quick="${BENCH_QUICK:-}"
[ "$quick" = 0 ] && quick=""
mode=full
[ -n "$quick" ] && mode=quick

go_bin="${GO:-$(command -v go || true)}"
[ -z "$go_bin" ] && [ -x /usr/lib/go-1.19/bin/go ] && go_bin=/usr/lib/go-1.19/bin/go
[ -n "${BENCH_NO_GO:-}" ] && go_bin=""

{
  echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit:   ${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')}"
  echo "mode:     $mode"
  echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc) cores"
  echo "memory:   $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "kernel:   $(uname -sr)"
  echo "rustc:    $(rustc --version)"
  echo "go:       $([ -n "$go_bin" ] && "$go_bin" version || echo 'not run')"
  echo "load avg: $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
} > "$report/machine.txt"
cat "$report/machine.txt"

echo "== criterion shapes ($mode)"
cargo bench -p victim-pool-benches --bench shapes -- "$@"
echo "== criterion shapes, victim-pool with the fallback fence pair ($mode)"
# Same CRITERION_HOME: only the "victim-pool fallback" peer runs, so its
# results sit next to the first run's without colliding.
VICTIM_POOL_NO_MEMBARRIER=1 BENCH_FALLBACK=1 \
  cargo bench -p victim-pool-benches --bench shapes -- "$@"
echo "== cleanup pause and ExpensiveNew"
cargo bench -p victim-pool-benches --bench pause
echo "== memory"
cargo bench -p victim-pool-benches --bench memory

if [ -n "$go_bin" ]; then
  echo "== Go sync.Pool"
  if [ -n "$quick" ]; then t=0.2s; stw=15x; exp=0.5s; else t=1s; stw=60x; exp=2s; fi
  (
    cd benches/go
    "$go_bin" test -run '^$' -bench '^Benchmark(Pool|Overflow|Starvation|StarvationNew)$' \
      -cpu 1,2,4,8 -benchtime "$t" .
    "$go_bin" test -run '^$' -bench '^BenchmarkCleanupSTW$' -cpu 2 -benchtime "$stw" .
    "$go_bin" test -run '^$' -bench '^BenchmarkExpensiveNew$' -cpu 1,2,4,8 -benchtime "$exp" .
  ) | tee "$report/go.txt"
else
  echo "== Go not found: skipping (apt-get install -y golang-1.19-go)"
fi

if command -v valgrind >/dev/null; then
  echo "== instructions per private Get+Put (callgrind)"
  cargo bench -p victim-pool-benches --bench instructions --no-run
  instr_bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/instructions-* | grep -v '\.d$' | head -1)
  echo "{" > "$report/instructions.json"
  sep=""
  # victim-pool-fallback: victim-pool with VICTIM_POOL_NO_MEMBARRIER=1.
  for pool in victim-pool victim-pool-local victim-pool-fallback tls-bound; do
    nomb=0  # "0" = not set; any other value, even empty, forces the fallback
    [ "$pool" = victim-pool-fallback ] && nomb=1
    for item in vec1k box_u64 array128; do
      counts=()
      for n in 100000 1100000; do
        out=$(VICTIM_POOL_NO_MEMBARRIER="$nomb" INSTR_CASE="$pool.$item" INSTR_ITERS=$n \
          valgrind --tool=callgrind --callgrind-out-file=/dev/null "$instr_bin" 2>&1)
        counts+=("$(sed -n 's/.*Collected : //p' <<<"$out")")
        fence=$(sed -n 's/^fence mode: //p' <<<"$out")
      done
      per=$(( (counts[1] - counts[0]) / 1000000 ))
      echo "$pool.$item: $per instructions ($fence fences)"
      printf '%s  "%s.%s": %s,\n  "fence-mode.%s.%s": "%s"' \
        "$sep" "$pool" "$item" "$per" "$pool" "$item" "$fence" >> "$report/instructions.json"
      sep=$',\n'
    done
  done
  # A Get that misses, and one iteration of Overflow and of Starvation on
  # one thread (fewer iterations: each is a hundred operations or more).
  for pool in victim-pool-miss victim-pool-overflow victim-pool-starvation; do
    for item in vec1k box_u64; do
      counts=()
      for n in 1000 11000; do
        out=$(INSTR_CASE="$pool.$item" INSTR_ITERS=$n \
          valgrind --tool=callgrind --callgrind-out-file=/dev/null "$instr_bin" 2>&1)
        counts+=("$(sed -n 's/.*Collected : //p' <<<"$out")")
      done
      per=$(( (counts[1] - counts[0]) / 10000 ))
      echo "$pool.$item: $per instructions"
      printf '%s  "%s.%s": %s' "$sep" "$pool" "$item" "$per" >> "$report/instructions.json"
    done
  done
  printf '\n}\n' >> "$report/instructions.json"
else
  echo "== valgrind not found: no instruction counts (apt-get install -y valgrind)"
fi

if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  echo "== CPU time of one thread per iteration (perf stat -e task-clock)"
  cargo bench -p victim-pool-benches --bench instructions --no-run
  instr_bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/instructions-* | grep -v '\.d$' | head -1)
  go_test=""
  if [ -n "$go_bin" ]; then
    go_test="$report/go-pool.test"
    (cd benches/go && "$go_bin" test -c -o "$go_test" .)
  fi
  # shellcheck disable=SC2086
  python3 benches/cpu_time.py "$instr_bin" "$report/cpu.json" $go_test
  rm -f "$go_test"
else
  echo "== perf not found or not permitted: no CPU times (apt-get install -y linux-perf)"
fi

echo "load avg: $(cut -d' ' -f1-3 /proc/loadavg) (at end)" >> "$report/machine.txt"
python3 benches/report.py "$report"
echo "report: $report/report.md"
