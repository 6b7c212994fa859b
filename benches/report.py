#!/usr/bin/env python3
"""Builds target/bench-report/report.md, plot.{png,svg} (every pool, one
chart per shape and item) and plot-shapes.{png,svg} (victim-pool, its local
and fallback-fence variants, Go and the bound, one chart per shape) from one
run.

Inputs (all under the report dir): criterion/ (CRITERION_HOME of both
`shapes` runs: the normal one and the `BENCH_FALLBACK=1` one), pause.json,
memory.json, go.txt (optional: `go test -bench` output), instructions.json
(callgrind counts), cpu.json (one-thread CPU times, benches/cpu_time.py),
fence-mode-{normal,fallback}.txt and machine.txt, each
optional. Only the standard library is needed for the tables; the plots need
matplotlib (skipped with a note when it is missing).
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
FALLBACK = "victim-pool fallback"
ALLOC = "alloc (no pool)"
GO = "Go 1.19 sync.Pool"
# Bold in the tables, drawn in plot-shapes.
OURS = VICTIM + [FALLBACK]


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
            order = [BOUND] + OURS + sorted(p for p in rows if p not in [BOUND, GO] + OURS) + [GO]
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
                name = f"**{pool}**" if pool in OURS else pool
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")


def per_thread(rows, a, b, invert=False):
    """{t: rows[a][t] / rows[b][t]} (or b / a with invert) where both exist."""
    out = {}
    for t in THREADS:
        r = ratio(rows.get(a, {}).get(t), rows.get(b, {}).get(t))
        if r is not None:
            out[t] = 1 / r if invert else r
    return out


def victim_apis(rows, other, invert=False):
    """Per victim-pool API: (worst ratio over threads, its thread count).

    The ratio is API / other (lower is better), or other / API with invert
    (higher is better: "× faster"); worst is the max, or the min with invert.
    """
    out = {}
    for v in VICTIM:
        rs = per_thread(rows, v, other, invert)
        if rs:
            t = (min if invert else max)(rs, key=rs.get)
            out[v] = (rs[t], t)
    return out


def fmt_apis(apis, suffix=""):
    return "; ".join(f"{v} {fmt_ratio(r)}{suffix} (worst at {t} thr)" for v, (r, t) in apis.items())


def targets(shapes, lines, fence_modes):
    """The speed targets: one row per API, item and target."""
    lines.append("## Speed targets (ratios within this run; worst case over 1/2/4/8 threads)\n")
    lines.append(
        "Per target, the named victim-pool API's worst ratio over the thread counts (where no "
        "API is named, the better of the two). Go and the fallback rows come from the same run "
        "as the rest.\n"
    )
    normal, fallback = fence_modes.get("normal"), fence_modes.get("fallback")
    if normal and normal != "Membarrier":
        lines.append(
            f"**The normal run's victim-pool rows used the {normal} fence pair (membarrier "
            "unavailable), so the fallback ratio below compares the fallback with itself.**\n"
        )
    if fallback and fallback != "Fallback":
        lines.append(f"**The fallback run reported fence mode {fallback}: its rows are not the fallback.**\n")
    lines.append("| target | measured | met? |")
    lines.append("|---|---|---|")

    def row(name, apis, limit, higher=False, suffix="", missing="not measured"):
        """A target on the better API: ratio ≤ limit (≥ limit with higher)."""
        if not apis:
            lines.append(f"| {name} | {missing} | n/a |")
            return
        rs = [r for r, _ in apis.values()]
        ok = max(rs) >= limit if higher else min(rs) <= limit
        lines.append(f"| {name} | {fmt_apis(apis, suffix)} | {'yes' if ok else '**no**'} |")

    def only(apis, api):
        return {v: r for v, r in apis.items() if v == api}

    def go_missing(rows):
        return "no Go run" if GO not in rows else "not measured"

    pool_api, local_api = VICTIM
    for item in ITEMS:
        rows = shapes.get(("pool", item), {})
        bound = victim_apis(rows, BOUND)
        row(f"Pool `{item}` `{pool_api}` ≤ 1.25× thread-local bound", only(bound, pool_api), 1.25)
        row(f"Pool `{item}` `{local_api}` ≤ 1.1× thread-local bound", only(bound, local_api), 1.1)
        row(
            f"Pool `{item}` `{pool_api}` ≥ 2× faster than Go",
            only(victim_apis(rows, GO, invert=True), pool_api),
            2.0,
            higher=True,
            suffix=" faster",
            missing=go_missing(rows),
        )
    for key, name in [("overflow", "Overflow"), ("starvation", "Starvation (no New)")]:
        for item in ITEMS:
            rows = shapes.get((key, item), {})
            row(f"{name} `{item}` ≤ 0.8× Go", victim_apis(rows, GO), 0.8, missing=go_missing(rows))
    for item in ITEMS:
        rows = shapes.get(("pool", item), {})
        rs = per_thread(rows, FALLBACK, VICTIM[0])
        name = f"Fallback fences: Pool `{item}` `{FALLBACK}` ≤ 1.5× `{VICTIM[0]}` (membarrier)"
        if not rs:
            lines.append(f"| {name} | not measured | n/a |")
            continue
        t = max(rs, key=rs.get)
        cells = ", ".join(f"{u} thr {rs[u]:.2f}×" for u in THREADS if u in rs)
        ok = "yes" if rs[t] <= 1.5 else "**no**"
        lines.append(f"| {name} | {fmt_ratio(rs[t])} (worst at {t} thr; {cells}) | {ok} |")
    lines.append("")


def other_checks(pause, memory, stw, lines):
    """Cleanup pause, latency and memory checks (not speed targets)."""
    out = []

    def row(name, value, ok):
        mark = "n/a" if ok is None else ("yes" if ok else "**no**")
        out.append(f"| {name} | {value} | {mark} |")

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
    if not out:
        return
    lines.append("## Other checks (cleanup pause, latency, memory; not speed targets)\n")
    lines.append("| check | measured | met? |")
    lines.append("|---|---|---|")
    lines.extend(out)
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


def format_axes(ax, title, fontsize):
    """Title, log-log axes over the thread counts, labels and grid."""
    ax.set_title(title, fontsize=fontsize)
    ax.set_xscale("log", base=2)
    ax.set_xticks(THREADS)
    ax.set_xticklabels([str(t) for t in THREADS])
    ax.set_yscale("log")
    ax.set_xlabel("threads (2 cores)")
    ax.set_ylabel("ns/op (wall / iterations)")
    ax.grid(True, which="both", alpha=0.3)


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
                if pool in OURS:
                    style.update(linewidth=3.5, color=POOL_COLORS[pool])
                if pool == FALLBACK:
                    style.update(linestyle="-.")
                if pool == GO:
                    style.update(color="black", linestyle="--", linewidth=2.5)
                if pool == BOUND:
                    style.update(color="grey", linestyle=":", linewidth=2.5)
                ax.plot(ts, [rows[pool][t] for t in ts], **style)
            format_axes(ax, f"{go_name} · {item}\n{desc}", 10)
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


# plot-shapes: colour per pool, line style and marker per item.
POOL_COLORS = {
    VICTIM[0]: "#c00000",
    VICTIM[1]: "#0033cc",
    FALLBACK: "#ff8c00",
    GO: "black",
    BOUND: "grey",
}
ITEM_STYLES = {
    "vec1k": dict(linestyle="-", marker="o"),
    "box_u64": dict(linestyle="--", marker="s"),
    "array128": dict(linestyle=":", marker="^"),
}


def plot_shapes(shapes, path_base):
    """One chart per shape: victim-pool (both APIs and the fallback fences),
    Go and the bound, for every item."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        return "matplotlib not installed: no plot (pip install matplotlib)"
    fig, axes = plt.subplots(2, 2, figsize=(16, 12), squeeze=False)
    for ax, (key, go_name, desc) in zip(axes.flat, SHAPES):
        for pool, color in POOL_COLORS.items():
            for item, istyle in ITEM_STYLES.items():
                rows = shapes.get((key, item), {}).get(pool)
                if not rows:
                    continue
                ts = [t for t in THREADS if t in rows]
                width = 2.5 if pool in OURS else 1.8
                ax.plot(ts, [rows[t] for t in ts], color=color, linewidth=width, markersize=6, **istyle)
        format_axes(ax, f"{go_name}\n{desc}", 11)
    pool_handles = [Line2D([], [], color=c, linewidth=3) for c in POOL_COLORS.values()]
    item_handles = [Line2D([], [], color="dimgrey", linewidth=1.8, **st) for st in ITEM_STYLES.values()]
    fig.legend(
        pool_handles + item_handles,
        list(POOL_COLORS) + [f"item: {i}" for i in ITEM_STYLES],
        loc="lower center",
        ncol=4,
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path_base + ".png", dpi=80)
    fig.savefig(path_base + ".svg")
    plt.close(fig)
    return None


def instruction_table(lines):
    """Instructions per private Get+Put (callgrind), next to the wall times."""
    path = os.path.join(DIR, "instructions.json")
    if not os.path.exists(path):
        return
    counts = json.load(open(path))
    lines.append("## Instructions per private Get+Put (callgrind)\n")
    lines.append(
        "Deterministic, unlike the wall times: (count at 1,100,000 cycles - count at 100,000) / "
        "1,000,000, loop included. `victim-pool fallback` is `victim-pool` with "
        "`VICTIM_POOL_NO_MEMBARRIER=1`: the same code path, where the fence-mode check runs in "
        "both modes and the fallback's `SeqCst` fence (a `lock or` to the stack on x86-64) takes the place of the "
        "membarrier mode's jump past it, so the counts are equal or within an instruction or two; "
        "what the fence costs shows in the wall times (the `victim-pool fallback` rows), not "
        "here.\n"
    )
    modes = sorted(
        {
            mode
            for key, mode in counts.items()
            if key.startswith(("fence-mode.victim-pool.", "fence-mode.victim-pool-local."))
        }
    )
    if modes and modes != ["Membarrier"]:
        lines.append(
            f"**Under valgrind the victim-pool cases ran with fence mode {', '.join(modes)}**"
            " (valgrind may not pass `membarrier` through): their counts include the fallback fences.\n"
        )
    lines.append(
        "| item | victim-pool | victim-pool local | victim-pool fallback | thread-local Vec (bound) | victim-pool / bound |"
    )
    lines.append("|---|---|---|---|---|---|")

    def cell(x):
        return "–" if x is None else str(x)

    for item in ITEMS:
        v, l, f, b = (
            counts.get(f"{p}.{item}")
            for p in ("victim-pool", "victim-pool-local", "victim-pool-fallback", "tls-bound")
        )
        r = f"{v / b:.2f}×" if v and b else "–"
        lines.append(f"| {item} | {cell(v)} | {cell(l)} | {cell(f)} | {cell(b)} | {r} |")
    lines.append("")


def one_thread_table(lines):
    """Instructions (callgrind) and CPU time (perf task-clock) of one thread
    per iteration, for victim-pool, the bound and Go, with the targets that
    these loops measure."""
    ipath, cpath = (os.path.join(DIR, f) for f in ("instructions.json", "cpu.json"))
    if not os.path.exists(cpath):
        return
    cpu = json.load(open(cpath))
    instr = json.load(open(ipath)) if os.path.exists(ipath) else {}
    lines.append("## One thread: instructions and CPU time per iteration\n")
    lines.append(
        "The loops of `benches/instructions.rs` on one thread: CPU time from `perf stat -e "
        "task-clock` (time the thread ran, so the load of a shared machine moves it little), "
        "instructions from callgrind; Go is the same loop in `benches/go` "
        "(`-test.cpu=1`, one goroutine). Each figure is the difference of two runs of "
        "different lengths over the difference in iterations, the smallest of three "
        "rounds (`benches/cpu_time.py`).\n"
    )

    def num(x, unit=""):
        return "–" if x is None else f"{x:g}{unit}"

    def times(a, b):
        return f"{a / b:.2f}×" if a and b else "–"

    lines.append("| item | API | instructions | CPU ns | × bound | Go CPU ns | × Go |")
    lines.append("|---|---|---|---|---|---|---|")
    apis = [("victim-pool", "`Pool::get`/`put`"), ("victim-pool-local", "`LocalHandle`"),
            ("victim-pool-fallback", "fallback fences"), ("tls-bound", "thread-local `Vec` (bound)")]
    for item in ITEMS:
        bound = cpu.get(f"tls-bound.{item}")
        go = cpu.get(f"go-pool.{item}")
        for key, api in apis:
            ns = cpu.get(f"{key}.{item}")
            lines.append(
                f"| {item} | {api} | {num(instr.get(f'{key}.{item}'))} | {num(ns)} | "
                f"{times(ns, bound)} | {num(go)} | {times(ns, go)} |"
            )
    lines.append("")
    lines.append("| shape (one iteration) | item | instructions | CPU ns | Go CPU ns | × Go |")
    lines.append("|---|---|---|---|---|---|")
    for key, shape in (("overflow", "Overflow (100 Puts, 100 Gets)"),
                       ("starvation", "Starvation (67 Puts, 100 Gets, no New)")):
        for item in ("vec1k", "box_u64"):
            ns, go = cpu.get(f"victim-pool-{key}.{item}"), cpu.get(f"go-{key}.{item}")
            lines.append(
                f"| {shape} | {item} | {num(instr.get(f'victim-pool-{key}.{item}'))} | {num(ns)} | "
                f"{num(go)} | {times(ns, go)} |"
            )
    for item in ("vec1k", "box_u64"):
        n = instr.get(f"victim-pool-miss.{item}")
        if n is not None:
            lines.append(f"\nA Get that misses everything (one thread, an emptied chain), {item}: {n} instructions.")
    lines.append("")

    checks = []
    for item in ("box_u64", "vec1k"):
        ns, bound, go = (cpu.get(f"{k}.{item}") for k in ("victim-pool", "tls-bound", "go-pool"))
        local = cpu.get(f"victim-pool-local.{item}")
        if ns and bound:
            checks.append((f"Pool `{item}` ≤ 1.25× the bound", f"{ns / bound:.2f}×", ns <= 1.25 * bound))
        if local and bound:
            checks.append((f"Pool `{item}` `LocalHandle` ≤ 1.1× the bound", f"{local / bound:.2f}×", local <= 1.1 * bound))
        if ns and go:
            checks.append((f"Pool `{item}` ≥ 2× faster than Go", f"{go / ns:.2f}× faster", go >= 2 * ns))
        fb = cpu.get(f"victim-pool-fallback.{item}")
        if fb and ns:
            checks.append((f"Pool `{item}` fallback fences ≤ 1.5× membarrier mode", f"{fb / ns:.2f}×", fb <= 1.5 * ns))
    n = instr.get("victim-pool.box_u64")
    if n is not None:
        checks.append(("≤ 80 instructions per private Get+Put, `box_u64`", str(n), n <= 80))
    for key, shape in (("overflow", "Overflow"), ("starvation", "Starvation")):
        for item in ("vec1k", "box_u64"):
            ns, go = cpu.get(f"victim-pool-{key}.{item}"), cpu.get(f"go-{key}.{item}")
            if ns and go:
                checks.append((f"{shape} `{item}` ≤ 0.8× Go", f"{ns / go:.2f}×", ns <= 0.8 * go))
    if checks:
        lines.append("| target (one thread, CPU time) | measured | met? |")
        lines.append("|---|---|---|")
        for target, measured, met in checks:
            lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
        lines.append("")


def load_fence_modes():
    """{"normal"|"fallback": "Membarrier"|"Fallback"} as the shapes runs wrote it."""
    out = {}
    for run in ("normal", "fallback"):
        path = os.path.join(DIR, f"fence-mode-{run}.txt")
        if os.path.exists(path):
            out[run] = open(path).read().strip()
    return out


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
    fence_modes = load_fence_modes()
    if fence_modes:
        lines.append(
            "Fence mode of victim-pool per `shapes` run: "
            + ", ".join(f"{run} run: {mode}" for run, mode in fence_modes.items())
            + f" (the `{FALLBACK}` rows are the fallback run).\n"
        )
    targets(shapes, lines, fence_modes)
    instruction_table(lines)
    one_thread_table(lines)
    note = plot_shapes(shapes, os.path.join(DIR, "plot-shapes"))
    if note is None:
        note = plot(shapes, os.path.join(DIR, "plot"))
    lines.append("## Shapes\n")
    if note is None:
        lines.append(
            "Per shape: victim-pool (`Pool::get`/`put`, `LocalHandle`, and `Pool::get`/`put` with "
            "the fallback fences), Go and the thread-local bound; colour per pool, line style per "
            "item.\n"
        )
        lines.append("![victim-pool, Go and the bound per shape](plot-shapes.png)\n")
        lines.append("Every pool, one chart per shape and item:\n")
        lines.append("![ns/op vs threads, every pool](plot.png)\n")
    else:
        lines.append(f"_{note}_\n")
    shape_tables(shapes, lines)
    other_checks(pause, memory, stw, lines)
    pause_tables(pause, stw, go_exp, lines)
    memory_tables(memory, lines)
    out = os.path.join(DIR, "report.md")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
