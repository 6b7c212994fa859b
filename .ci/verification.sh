#!/usr/bin/env bash
# Verification tiers for victim-pool (see verification/README.md).
#   .ci/verification.sh          quick tier (CI): loom bound 2, shuttle 10 s
#                                per scheduler per test, mutant table, TSan, Miri
#   .ci/verification.sh deep     deep tier: loom bound 3, shuttle 120 s, Miri
#                                over 64 seeds (or VERIFY_TIER=deep)
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-${VERIFY_TIER:-quick}}"
case $tier in
  quick) loom_bound=2; shuttle_secs=10; miri_seeds=0..4 ;;
  deep)  loom_bound=3; shuttle_secs=120; miri_seeds=0..64 ;;
  *) echo "unknown tier $tier (quick|deep)" >&2; exit 2 ;;
esac
base="${VERIFY_TARGET_DIR:-target/verification}"
section() { printf '\n==== %s (%ss elapsed)\n' "$1" "$SECONDS"; }

section "checkers' own tests + sequential differential (lock-free = reference = model)"
CARGO_TARGET_DIR=$base/std cargo test -p victim-pool-verification --release

section "loom (LOOM_MAX_PREEMPTIONS=$loom_bound)"
LOOM_MAX_PREEMPTIONS=$loom_bound CARGO_TARGET_DIR=$base/loom RUSTFLAGS="--cfg loom" \
  cargo test -p victim-pool-verification --release --test loom -- --test-threads=1 --nocapture 2>&1 \
  | grep -E "loom model|test result|panicked|FAILED" ; test "${PIPESTATUS[0]}" -eq 0

section "shuttle (random + PCT, ${shuttle_secs}s each)"
SHUTTLE_SECS=$shuttle_secs CARGO_TARGET_DIR=$base/shuttle RUSTFLAGS="--cfg shuttle" \
  cargo test -p victim-pool-verification --release --test shuttle -- --test-threads=1 --nocapture

section "mutant catalogue"
verification/mutants.sh

section "ThreadSanitizer (stress tests)"
RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=$base/tsan \
  cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu -p victim-pool-verification --release --test stress

section "Miri (weak memory, seeds $miri_seeds)"
MIRIFLAGS="-Zmiri-many-seeds=$miri_seeds" CARGO_TARGET_DIR=$base/miri \
  cargo +nightly miri test -p victim-pool-verification --test stress

section "done"
