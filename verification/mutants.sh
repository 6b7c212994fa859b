#!/usr/bin/env bash
# Runs the mutant catalogue (verification/mutants.txt, the one list of
# mutants): builds the core once per mutant with
# --cfg victim_pool_mutant="<name>" and runs the check expected to kill it. Prints: mutant | killed by | time to kill | replay [evidence].
# A mutant that survives (or does not build) makes the script exit 1; an
# unknown name or a malformed catalogue row exits 2.
# Usage: verification/mutants.sh [mutant ...]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export SHUTTLE_SECS="${SHUTTLE_SECS:-20}"
# The tier's own target dirs (loom, shuttle, std, miri): the dependencies
# built there are reused, and only the workspace's crates are rebuilt per
# mutant (then once more by the next normal build).
T="${MUTANTS_TARGET_DIR:-${VERIFY_TARGET_DIR:-target/verification}}"
# The `test` checker's debug builds go to $T/std unless MUTANTS_TEST_TARGET_DIR
# says where debug dependencies are already built (CI: the workspace's own).
catalogue=verification/mutants.txt

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# The catalogue's rows as "name|checker|test", checked.
rows=()
while IFS='|' read -r name checker test rule extra; do
  name=$(trim "$name")
  [ -z "$name" ] || [[ "$name" == \#* ]] && continue
  checker=$(trim "$checker"); test=$(trim "$test"); rule=$(trim "$rule")
  if [ -n "$extra" ] || [ -z "$test" ] || [ -z "$rule" ] || ! [[ "$name" =~ ^[a-z0-9_]+$ ]]; then
    echo "$catalogue: malformed row for $name (want: name | checker | test | rule broken)" >&2; exit 2
  fi
  case $checker in loom|shuttle|miri|differential|go-diff|test) ;;
    *) echo "$catalogue: $name: unknown checker '$checker' (loom, shuttle, miri, differential, go-diff, test)" >&2; exit 2 ;;
  esac
  rows+=("$name|$checker|$test")
done <"$catalogue"
known=" ${rows[*]%%|*} "
for want in "$@"; do
  if [[ "$known" != *" $want "* ]]; then
    echo "unknown mutant '$want'; known:${known% }" >&2; exit 2
  fi
done

# The cfg reaches the workspace's crates through verification/mutant-rustc
# (a RUSTC_WORKSPACE_WRAPPER, called through a link named after the mutant):
# the dependencies are then built once and shared by every mutant, where
# RUSTFLAGS would rebuild them all for each one. Miri ignores that wrapper,
# so Miri mutants give the cfg to the core alone through a per-package
# profile rustflags (nightly's -Zprofile-rustflags), to the same effect.
mkdir -p "$T/wrappers"
W=$(cd "$T/wrappers" && pwd)
wrap() { cp -f verification/mutant-rustc "$W/$1" && printf '%s' "$W/$1"; }
cfg() { printf -- '--cfg victim_pool_mutant="%s"' "$1"; }
# One cargo command per checker; $1 = the mutant, $2 = the catalogue's test.
run_loom()    { CARGO_TARGET_DIR=$T/loom    RUSTC_WORKSPACE_WRAPPER=$(wrap "$1") RUSTFLAGS="--cfg loom" \
                cargo test -q -p victim-pool-verification --release --test loom -- --exact "$2"; }
run_shuttle() { CARGO_TARGET_DIR=$T/shuttle RUSTC_WORKSPACE_WRAPPER=$(wrap "$1") RUSTFLAGS="--cfg shuttle" \
                cargo test -q -p victim-pool-verification --release --test shuttle -- --exact "$2"; }
run_differential() { CARGO_TARGET_DIR=$T/std RUSTC_WORKSPACE_WRAPPER=$(wrap "$1") RUSTFLAGS= \
                cargo test -q -p victim-pool-verification --release --test differential; }
run_miri()    { CARGO_TARGET_DIR=$T/miri \
                MIRIFLAGS="${MIRI_MUTANT_FLAGS:--Zmiri-many-seeds=0..32 -Zmiri-preemption-rate=0.1}" \
                cargo +nightly miri test -q -Zprofile-rustflags \
                --config "profile.dev.package.victim-pool.rustflags=[\"--cfg\", \"victim_pool_mutant=\\\"$1\\\"\"]" \
                -p victim-pool-verification --test stress -- --exact "$2"; }
# Killed only by a divergence (exit 1): exit 2 (no Go, a Go build error) is
# reported as a build error, never as a kill.
# shellcheck disable=SC2086 # the test column is a list of go-diff arguments
run_go_diff() { CARGO_TARGET_DIR=$T/std RUSTC_WORKSPACE_WRAPPER=$(wrap "$1") RUSTFLAGS= VICTIM_POOL_MUTANT="$1" \
                cargo run -q --release -p victim-pool-verification --bin poolcheck -- go-diff --no-progress \
                --dir "$T/go-diff-mutants/$1" $2; local rc=$?
                [ $rc -le 1 ] || echo "could not compile or run: poolcheck go-diff exited $rc"; return $rc; }
# shellcheck disable=SC2086 # the test column is a list of cargo arguments
run_test()    { CARGO_TARGET_DIR=${MUTANTS_TEST_TARGET_DIR:-$T/std} RUSTC_WORKSPACE_WRAPPER=$(wrap "$1") RUSTFLAGS= timeout 600 cargo test -q $2; }

survivors=0
printf '%-28s | %-12s | %-9s | %s\n' mutant "killed by" time replay
for row in "${rows[@]}"; do
  IFS='|' read -r name checker test <<<"$row"
  [ $# -gt 0 ] && [[ " $* " != *" $name "* ]] && continue
  log=$(mktemp)
  start=$(date +%s.%N)
  "run_${checker//-/_}" "$name" "$test" >"$log" 2>&1
  rc=$?
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  if grep -q "error\[E\|could not compile" "$log"; then
    verdict="BUILD-ERROR"; survivors=$((survivors + 1))
  elif [ $rc -ne 0 ] && [ "$checker" = test ]; then
    verdict="test"   # the command is in the replay column
  elif [ $rc -ne 0 ]; then
    verdict="$checker:$test"
  else
    verdict="SURVIVED"; survivors=$((survivors + 1))
  fi
  case $checker in
    loom) replay="deterministic: rerun; LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS" ;;
    shuttle) replay="SHUTTLE_REPLAY=$(grep -A3 'failing schedule' "$log" | sed -n '3,4p' | tr -d '\n' | cut -c1-40)..." ;;
    differential) replay=$(grep -o 'VERIFY_SEED=[0-9]*' "$log" | head -1) ;;
    go-diff) replay="poolcheck replay $(grep -o '[^ ]*/go-[0-9a-f]*\.json' "$log" | head -1)" ;;
    miri) seed=$(grep -o 'FAILING SEED: [0-9]*' "$log" | head -1 | grep -o '[0-9]*$')
          replay="MIRIFLAGS='-Zmiri-seed=${seed:-?} -Zmiri-preemption-rate=0.1'" ;;
    test) replay="RUSTFLAGS='$(cfg "$name")' cargo test $test" ;;
  esac
  what=$(grep -m1 -o "DIVERGENCE: [^(]*\|Causality violation\|not linearizable\|Undefined Behavior: [A-Za-z -]*\|returned twice\|exactly once\|conservation\|lock-free [^,]*" "$log")
  [ -z "$what" ] && what=$(grep -m1 -o "panicked at [^:]*" "$log")
  printf '%-28s | %-12s | %7.1fs | %s [%s]\n' "$name" "$verdict" "$secs" "$replay" "$what"
  cp "$log" "/tmp/mutant-$name.log" 2>/dev/null
  rm -f "$log"
done
echo "survivors: $survivors"
[ "$survivors" -eq 0 ]
