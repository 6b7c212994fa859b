#!/usr/bin/env bash
# Verification tiers for victim-pool (see verification/README.md).
#   .ci/verification.sh          quick tier (CI, ~8 min from cold):
#                                go-diff 20 s (the reference against Go's
#                                sync.Pool, slots 1, 2 and 4),
#                                loom bound 2, shuttle 4 s per scheduler per
#                                test (>100,000 schedules in total), mutant
#                                table, TSan (stress at 1/10 size), Miri
#                                (3 small stress tests x 4 seeds + the pool
#                                stress test x 1 seed), poolcheck explain
#                                for three lessons (loom, shuttle, reclamation)
#   .ci/verification.sh deep     deep tier: go-diff 5 min, loom bound 3, shuttle 120 s,
#                                TSan full size, Miri every stress test over
#                                64 seeds (or VERIFY_TIER=deep)
# Both tiers end with AddressSanitizer (stress + fault injection, then an
# adversarial-only poolcheck fuzz: 1/10 size and 10 s quick, full size and
# 60 s deep) and Miri on fault injection and the adversarial stress tests
# (quick: the release-inside-drop one, 1 seed; deep: both, 8 seeds).
# These two sections add ~3.5 min to the quick tier with warm builds, ~7 min
# from cold (ASan build ~2 min, Miri build + runs ~4.5 min).
# A failure prints what replays it: the loom model (deterministic at the
# same bound), shuttle's failing schedule (SHUTTLE_REPLAY=...), the Miri
# seed (FAILING SEED: n -> MIRIFLAGS=-Zmiri-seed=n), the differential seed.
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-${VERIFY_TIER:-quick}}"
small_stress="victim_chain_grace_period chain_reclaim_under_contention dequeue_wraparound_under_contention pooled_chain_steals_while_owner_regrows"
case $tier in
  quick) loom_bound=2; shuttle_secs=4; tsan_quick=1; go_budget=20s
         miri_small=0..4; miri_pool=0..1 ;;
  deep)  loom_bound=3; shuttle_secs=120; tsan_quick=; go_budget=5m
         miri_small=0..64; miri_pool=0..64 ;;
  *) echo "unknown tier $tier (quick|deep)" >&2; exit 2 ;;
esac
case $tier in
  quick) asan_quick=1; asan_fuzz=10s; miri_adv=0..1
         miri_adv_tests="--exact adversarial_release_thread_slot_inside_drop" ;;
  *)     asan_quick=;  asan_fuzz=60s; miri_adv=0..8; miri_adv_tests=adversarial ;;
esac
base="${VERIFY_TARGET_DIR:-target/verification}"
# Release builds with line tables, everywhere in the tier: backtraces name
# lines, and `poolcheck explain` (which needs them to name the line that
# freed an object) reuses the loom and shuttle builds' dependencies.
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
section() { printf '\n==== %s (%ss elapsed)\n' "$1" "$SECONDS"; }

section "checkers' own tests + sequential differential (lock-free = reference = model)"
CARGO_TARGET_DIR=$base/std cargo test -p victim-pool-verification --release

section "go-diff: the reference against Go's own sync.Pool ($go_budget, slots 1, 2, 4)"
# Needs Go 1.13+ (.ci/run installs it); exit 2 without it, 1 on a divergence
# (saved, shrunk: poolcheck replay FILE draws it with a Go column).
CARGO_TARGET_DIR=$base/std cargo run -q -p victim-pool-verification --release --bin poolcheck -- \
  go-diff --budget "$go_budget" --no-progress --dir "$base/go-diff"

section "orderings table up to date with src/, no invisible survivor (parses src/ only)"
# A new or changed ordering in src/ without its row in verification/orderings.md
# fails here, and so does a weakening that survives as `invisible` (needed,
# yet seen by no checker); the deep runs that fill the rows: `poolcheck orderings`.
CARGO_TARGET_DIR=$base/std cargo run -q -p victim-pool-verification --release --bin poolcheck -- orderings --check

section "loom (LOOM_MAX_PREEMPTIONS=$loom_bound): the models, and those that kill the ordering weakenings"
# loom_orderings: the models behind rows of verification/orderings.md
# (grace_period_ends_at_the_next_entry runs at bound 4 in both tiers).
LOOM_MAX_PREEMPTIONS=$loom_bound CARGO_TARGET_DIR=$base/loom RUSTFLAGS="--cfg loom" \
  cargo test -p victim-pool-verification --release --test loom --test loom_orderings -- --test-threads=1 --nocapture 2>&1 \
  | grep -E "loom model|test result|panicked|FAILED|Causality|assert|invariant" ; test "${PIPESTATUS[0]}" -eq 0

section "shuttle (random + PCT, ${shuttle_secs}s each)"
mkdir -p "$base"
shuttle_rc=0
SHUTTLE_SECS=$shuttle_secs CARGO_TARGET_DIR=$base/shuttle RUSTFLAGS="--cfg shuttle" \
  cargo test -p victim-pool-verification --release --test shuttle -- --test-threads=1 --nocapture 2>&1 \
  | tee "$base/shuttle.log" | grep -Ev "^\s+[0-9]+: |^\s+at " || shuttle_rc=1
awk '/^shuttle .* schedules/ { n += $3 } END { printf "shuttle schedules in total: %d\n", n }' "$base/shuttle.log"
test "$shuttle_rc" -eq 0

section "mutant catalogue"
verification/mutants.sh

section "poolcheck explain: a loom, a shuttle and a reclamation lesson (trace drawn, page names the rule and marks the bug)"
# The core's recorder (src/sync/trace.rs) under loom and under shuttle,
# and its use-after-free check (a victim chain freed under a thief; the
# chain's own reclamation mutant now stops earlier, at the invariant in
# `reclaim`, so it no longer reaches a use after free): each page
# must exist and name the rule the mutant breaks and its DESIGN.md section.
# (The differential and test lessons build other targets; not run here.)
for lesson in "push_publish_relaxed|publishes the new head with Relaxed instead of Release" \
              "pop_tail_without_cas|takes the tail index with a plain store instead of winning a CAS" \
              "cleanup_frees_victim_early|use after free of"; do
  name=${lesson%%|*}; rule=${lesson#*|}
  POOLCHECK_TARGET_DIR=$base/poolcheck POOLCHECK_CHECKER_TARGET_DIR=$(cd "$base" && pwd) CARGO_TARGET_DIR=$base/std \
    cargo run -q --release -p victim-pool-verification --bin poolcheck -- explain "$name" | tail -3
  page=$base/poolcheck/explain/$name.html
  # ... and opens on the step where the bug happens, with its one line of
  # what went wrong (the page's data: `"focus":{"bug":N` and `"here"`).
  grep -q "$rule" "$page" && grep -q "DESIGN.md" "$page" && grep -q '"focus":{"bug":' "$page" \
    && grep -q '"here":"' "$page" \
    || { echo "poolcheck explain $name: $page missing, or without the rule or the bug's step" >&2; exit 1; }
  echo "$page: names the rule ($rule) and marks the bug's step"
  # In a real browser: the page's script ran and drew the lanes with the
  # bug's "what went wrong" row and the steps before folded; a screenshot
  # of the first screen goes beside the page.
  if command -v chromium >/dev/null; then
    dom=$(chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$(cd "$(dirname "$page")" && pwd)/$name.html" 2>/dev/null)
    grep -Eq 'id="wrong"><td colspan="[0-9]+">' <<<"$dom" && grep -q 'id="fold0"' <<<"$dom" \
      || { echo "poolcheck explain $name: in chromium the page does not draw the bug's step" >&2; exit 1; }
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1440,900 \
      --screenshot="$base/poolcheck/explain/$name.png" "file://$(cd "$(dirname "$page")" && pwd)/$name.html" 2>/dev/null >/dev/null
    echo "$page: drawn in chromium (first screen: $base/poolcheck/explain/$name.png)"
  else
    echo "chromium is not installed: the browser check of $page did not run (.ci/run installs it)"
  fi
done

section "ThreadSanitizer (stress tests${tsan_quick:+, 1/10 size})"
VERIFY_QUICK=$tsan_quick RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=$base/tsan \
  cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu -p victim-pool-verification --release --test stress

section "Miri (weak memory): small stress tests, seeds $miri_small"
# shellcheck disable=SC2086
MIRIFLAGS="-Zmiri-many-seeds=$miri_small" CARGO_TARGET_DIR=$base/miri \
  cargo +nightly miri test -p victim-pool-verification --test stress -- --exact $small_stress

section "Miri (weak memory): pool with concurrent cleanup (seeds $miri_pool) beside adversarial items ($miri_adv_tests, seeds $miri_adv)"
# Two long single-threaded interpretations (built above): side by side, one
# core each. The first one's output follows the second's.
MIRIFLAGS="-Zmiri-many-seeds=$miri_pool" CARGO_TARGET_DIR=$base/miri \
  cargo +nightly miri test -p victim-pool-verification --test stress -- --exact pool_with_concurrent_cleanup \
  >"$base/miri-pool.log" 2>&1 &
miri_pool_pid=$!
# shellcheck disable=SC2086
MIRIFLAGS="-Zmiri-many-seeds=$miri_adv" CARGO_TARGET_DIR=$base/miri \
  cargo +nightly miri test -p victim-pool-verification --test stress -- $miri_adv_tests
miri_pool_rc=0
wait "$miri_pool_pid" || miri_pool_rc=$?
cat "$base/miri-pool.log"
test "$miri_pool_rc" -eq 0

section "AddressSanitizer: stress${asan_quick:+ (1/10 size)} + fault injection, adversarial fuzz ${asan_fuzz}"
# No -Zbuild-std: std is not instrumented, but every heap block of the pool
# goes through ASan's allocator, which is what a use-after-free needs.
VERIFY_QUICK=$asan_quick RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=$base/asan \
  cargo +nightly test --target x86_64-unknown-linux-gnu -p victim-pool-verification --release \
  --no-fail-fast --test stress --test faults
# The core's fork and process-wide tests: a child that uses freed memory
# (a slot wrongly counted lost) or a drop worker's hostile payloads.
asan_core() { RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=$base/asan \
  cargo +nightly test --target x86_64-unknown-linux-gnu -p victim-pool --release "$@"; }
asan_core --test fork -- a_handle_kept_past_release_thread_slot
asan_core --test process_wide
POOLCHECK_ADVERSARIAL=only RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=$base/asan \
  cargo +nightly run --target x86_64-unknown-linux-gnu -p victim-pool-verification --release \
  --bin poolcheck -- fuzz --budget "$asan_fuzz" --threads 2 --no-progress --stop-on-failure \
  --dir "$base/asan/failures"

if [ "$tier" = deep ]; then
  section "Miri (weak memory): fault injection, seeds $miri_adv"
  # The quick tier leaves fault injection under Miri to .ci/run (the core's
  # tests/faults.rs runs there under Miri).
  MIRIFLAGS="-Zmiri-many-seeds=$miri_adv" CARGO_TARGET_DIR=$base/miri \
    cargo +nightly miri test -p victim-pool-verification --test faults
fi

section "done"
