#!/usr/bin/env python3
"""CPU time of one thread per iteration, for the cases of benches/instructions.rs
and the same loops in Go (BenchmarkPool / Overflow / Starvation with -cpu 1).

    benches/cpu_time.py <instructions binary> <out.json> [go test binary]

Each figure is the difference of two runs of the same case (`hi` and `lo`
iterations) under `perf stat -e task-clock` (time the thread ran, not time it
waited), divided by `hi - lo`, so start-up cost cancels out; the smallest of
three interleaved rounds. Needs `perf`.
"""

import json
import os
import subprocess
import sys

ROUNDS = 3
GET_PUT = (50_000_000, 5_000_000)
SHAPE = (500_000, 50_000)

# (case, env): the victim-pool-fallback cases need the fallback fences.
CASES = [
    (f"{pool}.{item}", {"VICTIM_POOL_NO_MEMBARRIER": "1"} if pool == "victim-pool-fallback" else {})
    for pool in ("victim-pool", "victim-pool-local", "victim-pool-fallback", "tls-bound")
    for item in ("vec1k", "box_u64", "array128")
] + [
    (f"{pool}.{item}", {})
    for pool in ("victim-pool-overflow", "victim-pool-starvation")
    for item in ("vec1k", "box_u64")
]

# Go's benchmark for each case kind, run on one goroutine (-cpu 1).
GO_CASES = [
    (f"go-{kind}.{item}", f"^Benchmark{bench}$/^{item}$")
    for kind, bench, items in (
        ("pool", "Pool", ("vec1k", "box_u64", "array128")),
        ("overflow", "Overflow", ("vec1k", "box_u64")),
        ("starvation", "Starvation", ("vec1k", "box_u64")),
    )
    for item in items
]


def task_clock_ms(cmd, env):
    out = subprocess.run(
        ["perf", "stat", "-x,", "-e", "task-clock", *cmd],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    ).stderr
    for line in out.splitlines():
        if "task-clock" in line:
            return float(line.split(",")[0])
    raise RuntimeError(f"no task-clock in perf output of {cmd}: {out}")


def per_iteration_ns(run, hi, lo):
    """Smallest over the rounds of (time(hi) - time(lo)) / (hi - lo), in ns."""
    return min((run(hi) - run(lo)) * 1e6 / (hi - lo) for _ in range(ROUNDS))


def main():
    instr_bin, out_path = sys.argv[1], sys.argv[2]
    go_bin = sys.argv[3] if len(sys.argv) > 3 else None
    result = {}
    for case, env in CASES:
        hi, lo = SHAPE if case.startswith(("victim-pool-overflow", "victim-pool-starvation")) else GET_PUT
        ns = per_iteration_ns(
            lambda n: task_clock_ms([instr_bin], {**env, "INSTR_CASE": case, "INSTR_ITERS": str(n)}),
            hi,
            lo,
        )
        result[case] = round(ns, 2)
        print(f"{case}: {ns:.2f} ns", flush=True)
    if go_bin:
        for case, pattern in GO_CASES:
            hi, lo = GET_PUT if case.startswith("go-pool.") else SHAPE
            ns = per_iteration_ns(
                lambda n: task_clock_ms(
                    [go_bin, "-test.run=^$", f"-test.bench={pattern}", "-test.cpu=1", f"-test.benchtime={n}x"],
                    {},
                ),
                hi,
                lo,
            )
            result[case] = round(ns, 2)
            print(f"{case}: {ns:.2f} ns", flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
