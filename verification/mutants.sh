#!/usr/bin/env bash
# Runs the mutant catalogue: builds the core once per mutant
# (VICTIM_POOL_MUTANT=<name>, see build.rs) and runs the check expected to
# kill it. Prints: mutant | killed by | time to kill | replay.
# A mutant that survives makes the script exit 1.
# Usage: verification/mutants.sh [mutant ...]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export SHUTTLE_SECS="${SHUTTLE_SECS:-20}"
T="${MUTANTS_TARGET_DIR:-${VERIFY_TARGET_DIR:-target/verification}/mutants}"

loom()    { CARGO_TARGET_DIR=$T/loom    RUSTFLAGS="--cfg loom"    cargo test -q -p victim-pool-verification --release --test loom    -- --exact "$1"; }
shuttle() { CARGO_TARGET_DIR=$T/shuttle RUSTFLAGS="--cfg shuttle" cargo test -q -p victim-pool-verification --release --test shuttle -- --exact "$1"; }
diffr()   { CARGO_TARGET_DIR=$T/std cargo test -q -p victim-pool-verification --release --test differential; }
miri()    { CARGO_TARGET_DIR=$T/miri MIRIFLAGS="${MIRI_MUTANT_FLAGS:--Zmiri-many-seeds=0..32 -Zmiri-preemption-rate=0.1}" \
              cargo +nightly miri test -q -p victim-pool-verification --test stress -- --exact "$1"; }

# name | tool | test
CATALOGUE="
consumer_clears_typ_first|loom|dequeue_cap2_wraparound
consumer_typ_store_relaxed|loom|dequeue_cap2_wraparound
producer_skips_typ_check|loom|dequeue_cap2_wraparound
producer_typ_load_relaxed|loom|dequeue_cap2_wraparound
push_publish_relaxed|loom|dequeue_cap2_wraparound
pop_tail_without_cas|shuttle|dequeue_linearizable
chain_next_after_pop|loom|chain_refill_then_grow
free_unlinked_immediately|miri|chain_reclaim_under_contention
get_skips_victim|differential|-
steal_from_head|differential|-
cleanup_frees_victim_early|miri|victim_chain_grace_period
"

want=" $* "
survivors=0
printf '%-28s | %-12s | %-9s | %s\n' mutant "killed by" time replay
while IFS='|' read -r name tool test; do
  [ -z "$name" ] && continue
  [ $# -gt 0 ] && [[ "$want" != *" $name "* ]] && continue
  log=$(mktemp)
  start=$(date +%s.%N)
  case $tool in
    loom) VICTIM_POOL_MUTANT=$name loom "$test" >"$log" 2>&1 ;;
    shuttle) VICTIM_POOL_MUTANT=$name shuttle "$test" >"$log" 2>&1 ;;
    differential) VICTIM_POOL_MUTANT=$name diffr >"$log" 2>&1 ;;
    miri) VICTIM_POOL_MUTANT=$name miri "$test" >"$log" 2>&1 ;;
  esac
  rc=$?
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  if grep -q "MUTANT $name" "$log" && grep -q "error\[E" "$log"; then
    verdict="BUILD-ERROR"; survivors=$((survivors + 1))
  elif [ $rc -ne 0 ] && ! grep -q "error\[E\|could not compile" "$log"; then
    verdict="$tool:$test"
  else
    verdict="SURVIVED"; survivors=$((survivors + 1))
  fi
  case $tool in
    loom) replay="deterministic: rerun; LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS" ;;
    shuttle) replay="SHUTTLE_REPLAY=$(grep -A3 'failing schedule' "$log" | sed -n '3,4p' | tr -d '\n' | cut -c1-40)..." ;;
    differential) replay=$(grep -o 'VERIFY_SEED=[0-9]*' "$log" | head -1) ;;
    miri) seed=$(grep -o 'FAILING SEED: [0-9]*' "$log" | head -1 | grep -o '[0-9]*$')
          replay="MIRIFLAGS='-Zmiri-seed=${seed:-?} -Zmiri-preemption-rate=0.1'" ;;
  esac
  what=$(grep -m1 -o "Causality violation\|not linearizable\|Undefined Behavior: [A-Za-z -]*\|returned twice\|exactly once\|conservation\|lock-free [^,]*" "$log")
  printf '%-28s | %-12s | %7.1fs | %s [%s]\n' "$name" "$verdict" "$secs" "$replay" "$what"
  cp "$log" "/tmp/mutant-$name.log" 2>/dev/null
  rm -f "$log"
done <<<"$CATALOGUE"
echo "survivors: $survivors"
[ "$survivors" -eq 0 ]
