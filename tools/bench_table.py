#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn Google Benchmark JSON from bench/mproc-bench into a comparison table.

    ./build-bench/bench/mproc-bench --benchmark_min_time=0.2 \\
        --benchmark_format=json > bench.json
    python3 tools/bench_table.py bench.json            # plain text
    python3 tools/bench_table.py --markdown bench.json # for docs/benchmarks.md

Several files may be given (e.g. runs of the baseline-only binary and of
mproc-bench): all their runs are pooled.  Where a benchmark has several runs
(--benchmark_repetitions, or several files) its figures are the median over
the runs; where only aggregates were written, the 'median' aggregate is used.

Each figure is the time per iteration (for the two-process ping-pongs: the
mean round trip, wall clock); p50/p99/p99.9 are per-round-trip percentiles
the benchmark itself collected (a round trip's median is often the steadier
ratio: a kernel hand-off has a long tail); 'cpu' is the benchmark process's own CPU
time per iteration (not its peer's); 'foreign' is the CPU time other
processes used meanwhile, in % of one CPU (a figure above 10% is marked '!').  The ratio is mproc / baseline: below 1 mproc
is faster.  Python 3 standard library only.
"""

import argparse
import json
import re
import signal
import statistics
import sys

# What each mproc benchmark is compared with: (mproc, baseline, comparison).
# The same mproc benchmark may appear against several baselines.
PAIRS = [
    # -- waiting layer, single process, nobody else there
    ("mproc/op/now_ns", "baseline/op/clock_gettime", "clock read"),
    ("mproc/op/deadline", "baseline/op/clock_gettime", "relative timeout -> deadline"),
    ("mproc/op/cpu_oversubscribed", "baseline/op/clock_gettime", "oversubscription check"),
    ("mproc/op/futex_wake_nowaiters", "baseline/op/futex_wake_nowaiters", "wake, no waiter"),
    ("mproc/op/futex_wait_mismatch", "baseline/op/futex_wait_mismatch", "wait, value changed"),
    ("mproc/op/ec_inc_nowaiters", "baseline/op/atomic_fetch_add", "event count +1, no waiter"),
    # -- two processes, both free to spin
    ("mproc/pingpong/wait_flag", "baseline/pingpong/cacheline_spin", "RTT vs physical floor"),
    ("mproc/pingpong/wait_flag", "baseline/pingpong/futex", "RTT vs raw futex"),
    ("mproc/pingpong/wait_always_wake", "baseline/pingpong/cacheline_spin", "RTT vs physical floor"),
    ("mproc/pingpong/wait_always_wake", "baseline/pingpong/futex", "RTT vs raw futex"),
    ("mproc/pingpong/ec", "baseline/pingpong/cacheline_spin", "RTT vs physical floor"),
    ("mproc/pingpong/ec", "baseline/pingpong/futex", "RTT vs raw futex"),
    ("mproc/pingpong/wait_flag_maxspin", "baseline/pingpong/cacheline_spin",
     "RTT vs physical floor (diagnostic: budget held at max)"),
    # -- two processes, every waiter parks (50 us before each reply)
    ("mproc/pingpong/wait_flag_delay50us", "baseline/pingpong/futex_delay50us", "RTT, waiter asleep"),
    ("mproc/pingpong/wait_always_wake_delay50us", "baseline/pingpong/futex_delay50us",
     "RTT, waiter asleep"),
    ("mproc/pingpong/ec_delay50us", "baseline/pingpong/futex_delay50us", "RTT, waiter asleep"),
    # -- two processes on one CPU: spinning can only hurt
    ("mproc/pingpong/wait_flag_samecpu", "baseline/pingpong/futex_samecpu", "RTT, one CPU"),
    ("mproc/pingpong/wait_always_wake_samecpu", "baseline/pingpong/futex_samecpu", "RTT, one CPU"),
    ("mproc/pingpong/ec_samecpu", "baseline/pingpong/futex_samecpu", "RTT, one CPU"),
    # -- regions
    ("mproc/region/create_close_anon/1MiB", "baseline/region/memfd_map_unmap/1MiB",
     "create+close, anonymous"),
    ("mproc/region/create_close_anon/64MiB", "baseline/region/memfd_map_unmap/64MiB",
     "create+close, anonymous"),
    ("mproc/region/create_close_unlink_named/1MiB", "baseline/region/shm_create_map_unlink/1MiB",
     "create+close+unlink, named"),
    ("mproc/region/open_close_named/1MiB", "baseline/region/shm_open_map/1MiB", "open+close, named"),
    ("mproc/region/alloc_free/64", "baseline/op/malloc_free/64", "alloc+free vs private malloc"),
    ("mproc/region/alloc_free/65536", "baseline/op/malloc_free/65536",
     "alloc+free vs private malloc"),
    ("mproc/region/alloc_free_2proc/64", "mproc/region/alloc_free/64", "2 processes vs 1"),
    ("mproc/region/alloc_free_2proc/65536", "mproc/region/alloc_free/65536", "2 processes vs 1"),
]

# Google Benchmark appends these to the registered name.
SUFFIX = re.compile(r"/(?:iterations|repeats|min_time|min_warmup_time|threads):[^/]+"
                    r"|/(?:real_time|manual_time|process_time)")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
COUNTERS = ("p50_ns", "p99_ns", "p999_ns", "sleeps_per_rt", "wakes_per_rt", "peer_ns_per_op",
            "foreign_cpu_pct")
# Other processes' CPU use during a two-process benchmark, in % of one CPU,
# above which its figure is marked as disturbed.
FOREIGN_MAX_PCT = 10.0


def base_name(entry):
    return SUFFIX.sub("", entry.get("run_name") or entry["name"])


class Figure:
    """The pooled runs of one benchmark."""

    def __init__(self):
        self.runs = []        # dicts: time_ns and counters
        self.medians = []     # the same, from 'median' aggregates
        self.error = None

    def add(self, entry):
        if entry.get("error_occurred"):
            self.error = entry.get("error_message", "error")
            return
        scale = TO_NS.get(entry.get("time_unit", "ns"), 1.0)
        row = {"time_ns": entry["real_time"] * scale, "cpu_ns": entry["cpu_time"] * scale}
        for c in COUNTERS:
            if c in entry:
                row[c] = float(entry[c])
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                self.medians.append(row)
        else:
            self.runs.append(row)

    def get(self, key):
        rows = self.medians or self.runs
        vals = [r[key] for r in rows if key in r]
        return statistics.median(vals) if vals else None

    @property
    def ok(self):
        return bool(self.medians or self.runs)


def load(paths):
    figures, context = {}, {}
    for path in paths:
        with open(path) as f:
            text = f.read()
        # Console output may precede the JSON when both went to one file.
        doc = json.loads(text[text.index("{"):])
        context = context or doc.get("context", {})
        for entry in doc.get("benchmarks", []):
            figures.setdefault(base_name(entry), Figure()).add(entry)
    return figures, context


def fmt_ns(v):
    if v is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} ns"


def fmt_pct(v):
    return "-" if v is None else f"{v:.0f}%"


def fmt_num(v):
    return "-" if v is None else f"{v:.2f}"


def fig_or_error(figures, name):
    fig = figures.get(name)
    if fig is None:
        return None, "missing"
    if not fig.ok:
        return None, f"ERROR: {fig.error}"
    return fig, None


def disturbed(fig):
    foreign = fig.get("foreign_cpu_pct") if fig else None
    return foreign is not None and foreign > FOREIGN_MAX_PCT


def pair_rows(figures):
    rows = []
    for mproc, base, what in PAIRS:
        m, merr = fig_or_error(figures, mproc)
        b, berr = fig_or_error(figures, base)
        if "missing" in (merr, berr):
            continue    # not in this run (e.g. --benchmark_filter)
        mt = m.get("time_ns") if m else None
        bt = b.get("time_ns") if b else None
        ratio = f"{mt / bt:.2f}" if mt and bt else "-"
        if disturbed(m) or disturbed(b):
            ratio += " !"
        mp = m.get("p50_ns") if m else None
        bp = b.get("p50_ns") if b else None
        rows.append([mproc, merr or fmt_ns(mt), base, berr or fmt_ns(bt), ratio,
                     fmt_ns(mp), fmt_ns(bp), f"{mp / bp:.2f}" if mp and bp else "-", what])
    return rows, ["mproc", "time", "baseline", "time", "ratio", "p50 mproc", "p50 base",
                  "p50 ratio", "comparison"]


def stats_rows(figures, prefix):
    rows = []
    for name in sorted(n for n in figures if n.startswith(prefix)):
        fig, err = fig_or_error(figures, name)
        if err:
            rows.append([name, err] + ["-"] * 8)
            continue
        rows.append([name, fmt_ns(fig.get("time_ns")), fmt_ns(fig.get("cpu_ns")),
                     fmt_ns(fig.get("p50_ns")),
                     fmt_ns(fig.get("p99_ns")), fmt_ns(fig.get("p999_ns")),
                     fmt_num(fig.get("sleeps_per_rt")), fmt_num(fig.get("wakes_per_rt")),
                     fmt_ns(fig.get("peer_ns_per_op")), fmt_pct(fig.get("foreign_cpu_pct"))])
    return rows, ["benchmark", "time", "cpu", "p50", "p99", "p99.9", "sleeps/RT", "wakes/RT",
                  "peer/op", "foreign"]


def text_table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    num = [i for i in range(len(header)) if i > 0 and header[i] not in ("baseline", "comparison")]

    def line(r):
        return "  ".join(str(c).rjust(w) if i in num else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    out = [line(header), "  ".join("-" * w for w in widths)]
    return "\n".join(out + [line(r) for r in rows])


def md_table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def context_line(ctx):
    load = ctx.get("load_avg", [])
    line = (f"{ctx.get('date', '?')} on {ctx.get('host_name', '?')}: "
            f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
            f"load average {', '.join(f'{x:.2f}' for x in load)} at start")
    # Another busy process steals the CPUs the two-process figures need.  The
    # 1-minute average lags: a load that just ended still shows here.
    if load and load[0] >= 0.5:
        line += " (check that nothing else was running: two-process figures suffer first)"
    return line


def render(figures, ctx, markdown):
    table = md_table if markdown else text_table
    sections = [
        ("mproc against its baselines (ratio = mproc / baseline)", pair_rows(figures)),
        ("Baselines", stats_rows(figures, "baseline/")),
        ("mproc figures", stats_rows(figures, "mproc/")),
    ]
    out = []
    if ctx:
        out.append(("_" + context_line(ctx) + "_") if markdown else context_line(ctx))
    for title, (rows, header) in sections:
        if not rows:
            continue
        out.append(f"### {title}" if markdown else f"\n== {title} ==")
        out.append(table(rows, header))
    if any(disturbed(f) for f in figures.values()):
        out.append(f"! other processes used more than {FOREIGN_MAX_PCT:.0f}% of a CPU during "
                   "that figure ('foreign' column): rerun on a quiet machine.")
    return "\n\n".join(out) if markdown else "\n".join(out)


def main(argv=None):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", help="Google Benchmark JSON output file(s)")
    ap.add_argument("--markdown", action="store_true", help="GitHub-flavoured Markdown tables")
    args = ap.parse_args(argv)
    try:
        figures, ctx = load(args.json)
    except (OSError, ValueError) as e:
        print(f"bench_table: {e}", file=sys.stderr)
        return 1
    if not figures:
        print("bench_table: no benchmarks in the input", file=sys.stderr)
        return 1
    print(render(figures, ctx, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
