#!/usr/bin/env python3
"""Builds target/bench-report/report.md and plot.{png,svg} from one run.

Inputs (all under the report dir): criterion/ (CRITERION_HOME of the
`shapes` bench), pause.json, memory.json, go.txt (optional: `go test -bench`
output) and machine.txt. Only the standard library is needed for the table;
the plot needs matplotlib (skipped with a note when it is missing).
"""

import json
import os
import re
import sys
from collections import defaultdict

DIR = sys.argv[1] if len(sys.argv) > 1 else "target/bench-report"
THREADS = [1, 2, 4, 8]
SHAPES = [
    ("pool", "Pool", "Put then Get"),
    ("overflow", "Overflow", "100 Puts then 100 Gets"),
    ("starvation", "Starvation", "67 Puts then 100 Gets, no New (try_get)"),
    ("starvation_new", "StarvationNew", "67 Puts then 100 Gets, with New"),
]
ITEMS = ["vec1k", "box_u64", "array128"]
BOUND = "thread-local Vec (bound)"
VICTIM = ["victim-pool", "victim-pool local"]
GO = "Go 1.19 sync.Pool"


def load_criterion():
    """{(shape, item): {pool: {threads: ns}}} from criterion's estimates."""
    out = defaultdict(lambda: defaultdict(dict))
    root = os.path.join(DIR, "criterion")
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        shape, _, item = meta["group_id"].partition(".")
        ns = est["median"]["point_estimate"]
        out[(shape, item)][meta["function_id"]][int(meta["value_str"])] = ns
    return out


def load_go(shapes):
    """Adds Go rows to `shapes`; returns (stw, expensive) dicts."""
    stw, expensive = {}, {}
    path = os.path.join(DIR, "go.txt")
    if not os.path.exists(path):
        return stw, expensive
    names = {go: key for key, go, _ in SHAPES}
    for line in open(path):
        m = re.match(r"^Benchmark(\w+)(?:/(\w+))?(?:-(\d+))?\s+\d+\s+(.*)$", line)
        if not m:
            continue
        bench, item, procs, rest = m.groups()
        procs = int(procs or 1)
        metrics = {unit: float(v) for v, unit in re.findall(r"([\d.e+-]+) (\S+)", rest)}
        if bench in names:
            shapes[(names[bench], item)][GO][procs] = metrics["ns/op"]
        elif bench == "CleanupSTW":
            stw[(item, procs)] = metrics
        elif bench == "ExpensiveNew":
            expensive[procs] = metrics
    return stw, expensive


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def shape_tables(shapes, lines):
    for key, go_name, desc in SHAPES:
        for item in ITEMS:
            rows = shapes.get((key, item))
            if not rows:
                continue
            lines.append(f"### {go_name} ({desc}), `{item}`\n")
            lines.append(
                "ns/op = wall time / iterations of the shape's loop body (Go's RunParallel "
                "convention); in brackets: × the thread-local bound, × Go (same run).\n"
            )
            lines.append("| pool | " + " | ".join(f"{t} thr" for t in THREADS) + " |")
            lines.append("|---" * (len(THREADS) + 1) + "|")
            bound = rows.get(BOUND, {})
            go = rows.get(GO, {})
            order = [BOUND] + VICTIM + sorted(p for p in rows if p not in [BOUND, GO] + VICTIM) + [GO]
            for pool in order:
                if pool not in rows:
                    continue
                cells = []
                for t in THREADS:
                    ns = rows[pool].get(t)
                    if ns is None:
                        cells.append("–")
                        continue
                    extra = []
                    if pool != BOUND:
                        extra.append(fmt_ratio(ratio(ns, bound.get(t))) + " b")
                    if pool != GO and go.get(t):
                        extra.append(fmt_ratio(ratio(ns, go.get(t))) + " Go")
                    cells.append(fmt_ns(ns) + (f" ({', '.join(extra)})" if extra else ""))
                name = f"**{pool}**" if pool in VICTIM else pool
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")


def worst(rows, pool, other, threads=THREADS):
    """max over thread counts of rows[pool][t] / rows[other][t]."""
    rs = [ratio(rows.get(pool, {}).get(t), rows.get(other, {}).get(t)) for t in threads]
    rs = [r for r in rs if r is not None]
    return max(rs) if rs else None


def best_victim(rows, other, invert=False):
    """(ratio, api) of the better victim-pool API, worst case over threads."""
    cands = []
    for v in VICTIM:
        if invert:
            r = worst(rows, other, v)
            if r is not None:
                rs = [ratio(rows.get(other, {}).get(t), rows.get(v, {}).get(t)) for t in THREADS]
                rs = [x for x in rs if x is not None]
                cands.append((min(rs), v))
        else:
            r = worst(rows, v, other)
            if r is not None:
                cands.append((r, v))
    if not cands:
        return None, None
    return (max if invert else min)(cands)


def targets(shapes, pause, memory, stw, lines):
    lines.append("## Issue targets (ratios within this run; worst case over 1/2/4/8 threads)\n")
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")

    def row(name, value, ok):
        mark = "n/a" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {name} | {value} | {mark} |")

    for item in ITEMS:
        rows = shapes.get(("pool", item), {})
        r, api = best_victim(rows, BOUND)
        row(f"Pool `{item}` ≤ 1.25× bound", f"{fmt_ratio(r)} ({api})", None if r is None else r <= 1.25)
        if rows.get(GO):
            r, api = best_victim(rows, GO, invert=True)
            row(f"Pool `{item}` ≥ 3× faster than Go", f"{fmt_ratio(r)} faster ({api})", None if r is None else r >= 3)
        rows = shapes.get(("overflow", item), {})
        r, api = best_victim(rows, BOUND)
        row(f"Overflow `{item}` ≤ 1.5× bound", f"{fmt_ratio(r)} ({api})", None if r is None else r <= 1.5)
        rows = shapes.get(("starvation", item), {})
        if rows.get(GO):
            r, api = best_victim(rows, GO)
            row(f"Starvation (no New) `{item}` ≤ 0.5× Go", f"{fmt_ratio(r)} ({api})", None if r is None else r <= 0.5)
    for c in pause.get("cleanup", []):
        if c["workers"] != 0:
            continue
        base = c["item"].removesuffix(" (detached)")
        go = stw.get((base, 2)) or stw.get((base, 1))
        if go:
            ok = c["pause_p50_ns"] <= go["p50-ns/STW"]
            row(
                f"Cleanup of 100k `{c['item']}`: pause p50 ≤ Go STW p50",
                f"{fmt_ns(c['pause_p50_ns'])} vs Go {fmt_ns(go['p50-ns/STW'])}",
                ok,
            )
    for c in pause.get("cleanup", []):
        if c["workers"] == 0 or not c["during_samples"]:
            continue
        ok = c["during_p99_ns"] <= c["outside_p99_ns"]
        row(
            f"Get/Put p99 during cleanup ≤ normal p99 (`{c['item']}`, {c['workers']} other thr)",
            f"{fmt_ns(c['during_p99_ns'])} vs {fmt_ns(c['outside_p99_ns'])} (max {fmt_ns(c['during_max_ns'])} vs {fmt_ns(c['outside_max_ns'])})",
            ok,
        )
    for m in memory.get("per_item", []):
        row(
            f"Pool bytes per pooled `{m['item']}` ≤ 1.5× slot ({m['size_of_slot']} B)",
            f"{m['pool_bytes_per_item']:.2f} B = {m['ratio_to_slot']:.2f}× slot",
            m["ratio_to_slot"] <= 1.5,
        )
    rss = memory.get("rss")
    if rss:
        empty = rss["rss_empty"]
        for stage in ["rss_after_drain", "rss_after_cleanup", "rss_after_malloc_trim"]:
            r = rss[stage] / empty
            row(
                f"RSS after drain of 1M `Box<u64>` within 10% of empty ({stage[4:].replace('_', ' ')})",
                f"{rss[stage] / 2**20:.1f} MiB vs {empty / 2**20:.1f} MiB = {r:.2f}×",
                r <= 1.10,
            )
    lines.append("")


def pause_tables(pause, stw, go_exp, lines):
    lines.append("## Cleanup pause (BenchmarkPoolSTW shape)\n")
    lines.append(
        "100,000 items put, then one `cleanup()` on the calling thread (includes dropping the "
        "previous victim generation's 100,000 items). Other threads run Put+Get pairs on the "
        "same pool; their latency (timer included) is split into during-cleanup and otherwise.\n"
    )
    lines.append("| item | other thr | pause p50 | pause p95 | Get+Put p99 during / otherwise | max during / otherwise | Go STW p50 / p95 (GOMAXPROCS 2) |")
    lines.append("|---|---|---|---|---|---|---|")
    for c in pause.get("cleanup", []):
        go = stw.get((c["item"].removesuffix(" (detached)"), 2))
        gos = f"{fmt_ns(go['p50-ns/STW'])} / {fmt_ns(go['p95-ns/STW'])}" if go else "–"
        lat = (
            f"{fmt_ns(c['during_p99_ns'])} / {fmt_ns(c['outside_p99_ns'])}" if c["workers"] else "–"
        )
        mx = f"{fmt_ns(c['during_max_ns'])} / {fmt_ns(c['outside_max_ns'])}" if c["workers"] else "–"
        lines.append(
            f"| {c['item']} | {c['workers']} | {fmt_ns(c['pause_p50_ns'])} | {fmt_ns(c['pause_p95_ns'])} | {lat} | {mx} | {gos} |"
        )
    lines.append("")
    lines.append("## ExpensiveNew (New sleeps 1 ms)\n")
    lines.append("| pool | threads | sweep | ns/op | New/op | cleanups (GCs)/op |")
    lines.append("|---|---|---|---|---|---|")
    for e in pause.get("expensive_new", []):
        lines.append(
            f"| {e['pool']} | {e['threads']} | {e['sweep_ms']} ms | {fmt_ns(e['ns_per_op'])} | {e['new_per_op']:.3f} | {e['cleanups_per_op']:.3f} |"
        )
    for procs in sorted(go_exp):
        g = go_exp[procs]
        lines.append(
            f"| {GO} | {procs} | GC | {fmt_ns(g['ns/op'])} | {g['New/op']:.3f} | {g['GCs/op']:.3f} |"
        )
    lines.append("")


def memory_tables(memory, lines):
    if not memory:
        return
    lines.append("## Memory\n")
    lines.append("| item | size_of item | size_of slot | pool heap bytes / pooled item |")
    lines.append("|---|---|---|---|")
    for m in memory["per_item"]:
        lines.append(
            f"| {m['item']} | {m['size_of_item']} | {m['size_of_slot']} | {m['pool_bytes_per_item']:.2f} ({m['ratio_to_slot']:.2f}× slot) |"
        )
    r = memory["rss"]
    lines.append("")
    lines.append("| 1M `Box<u64>` | RSS | live heap (counting allocator) |")
    lines.append("|---|---|---|")
    for stage, live in [
        ("rss_empty", "live_empty"),
        ("rss_full", None),
        ("rss_after_drain", "live_after_drain"),
        ("rss_after_cleanup", "live_after_cleanup"),
        ("rss_after_malloc_trim", None),
    ]:
        lv = f"{r[live] / 2**20:.2f} MiB" if live else "–"
        lines.append(f"| {stage[4:].replace('_', ' ')} | {r[stage] / 2**20:.1f} MiB | {lv} |")
    lines.append("")


def plot(shapes, path_base):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no plot (pip install matplotlib)"
    fig, axes = plt.subplots(len(ITEMS), len(SHAPES), figsize=(22, 10), squeeze=False)
    pools = sorted({p for rows in shapes.values() for p in rows})
    cmap = plt.get_cmap("tab20")
    colors = {p: cmap(i % 20) for i, p in enumerate(pools)}
    for r, item in enumerate(ITEMS):
        for c, (key, go_name, desc) in enumerate(SHAPES):
            ax = axes[r][c]
            rows = shapes.get((key, item), {})
            for pool in pools:
                if pool not in rows:
                    continue
                ts = [t for t in THREADS if t in rows[pool]]
                style = dict(color=colors[pool], marker="o", label=pool)
                if pool in VICTIM:
                    style.update(linewidth=3.5, color="#c00000" if pool == VICTIM[0] else "#0033cc")
                if pool == GO:
                    style.update(color="black", linestyle="--", linewidth=2.5)
                if pool == BOUND:
                    style.update(color="grey", linestyle=":", linewidth=2.5)
                ax.plot(ts, [rows[pool][t] for t in ts], **style)
            ax.set_title(f"{go_name} · {item}\n{desc}", fontsize=10)
            ax.set_xscale("log", base=2)
            ax.set_xticks(THREADS)
            ax.set_xticklabels([str(t) for t in THREADS])
            ax.set_yscale("log")
            ax.set_xlabel("threads (2 cores)")
            ax.set_ylabel("ns/op (wall / iterations)")
            ax.grid(True, which="both", alpha=0.3)
    handles, labels = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path_base + ".png", dpi=80)
    fig.savefig(path_base + ".svg")
    return None


def instruction_table(lines):
    """Instructions per private Get+Put (callgrind), next to the wall times."""
    path = os.path.join(DIR, "instructions.json")
    if not os.path.exists(path):
        return
    counts = json.load(open(path))
    lines.append("## Instructions per private Get+Put (callgrind)\n")
    lines.append("Deterministic, unlike the wall times: (count at 1,100,000 cycles - count at 100,000) / 1,000,000, loop included.\n")
    lines.append("| item | victim-pool | victim-pool local | thread-local Vec (bound) | victim-pool / bound |")
    lines.append("|---|---|---|---|---|")
    for item in ITEMS:
        v, l, b = (counts.get(f"{p}.{item}") for p in ("victim-pool", "victim-pool-local", "tls-bound"))
        ratio = f"{v / b:.2f}x" if v and b else "-"
        lines.append(f"| {item} | {v} | {l} | {b} | {ratio} |")
    lines.append("")


def main():
    shapes = load_criterion()
    stw, go_exp = load_go(shapes)
    pause = json.load(open(os.path.join(DIR, "pause.json"))) if os.path.exists(os.path.join(DIR, "pause.json")) else {}
    memory = json.load(open(os.path.join(DIR, "memory.json"))) if os.path.exists(os.path.join(DIR, "memory.json")) else {}
    lines = ["# victim-pool benchmark report\n"]
    machine = os.path.join(DIR, "machine.txt")
    if os.path.exists(machine):
        lines.append("## Machine and run\n")
        lines.append("```")
        lines.append(open(machine).read().strip())
        lines.append("```\n")
    lines.append(
        "Numbers are noisy (2 shared cores; other jobs may run): compare ratios within this "
        "run, not absolute numbers across runs. Criterion's median per benchmark.\n"
    )
    if not any(GO in rows for rows in shapes.values()):
        lines.append("Go was not run (no `go` found), so there are no Go rows.\n")
    targets(shapes, pause, memory, stw, lines)
    note = plot(shapes, os.path.join(DIR, "plot"))
    lines.append("## Shapes\n")
    lines.append("![ns/op vs threads](plot.png)\n" if note is None else f"_{note}_\n")
    shape_tables(shapes, lines)
    pause_tables(pause, stw, go_exp, lines)
    memory_tables(memory, lines)
    instruction_table(lines)
    out = os.path.join(DIR, "report.md")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
