#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Charts of a benchmark run: latency percentiles and throughput vs size.

    python3 tools/bench_plot.py --out build/bench-plots build/bench.json \\
        [build/python-mp.json]

Reads the same Google Benchmark JSON as tools/bench_table.py (and pools
several files the same way: its loader is reused, so a figure here is the
same median the table prints) and writes, with gnuplot, into --out:

  latency.png     p50, p99 and p99.9 of every round-trip benchmark (two
                  processes handing a message back and forth), log scale;
                  the mean the table's 'time' column shows is not drawn:
                  a kernel hand-off's tail is the story
  throughput.png  for each streaming variant (one producer process, one
                  consumer process), messages per second and bandwidth
                  against the message size

plus the .dat tables and the .gp script behind them, so a chart can be
redrawn or restyled by hand.  The charts are build output: they belong in
the build directory, not in the repository.

Exits 1 when gnuplot is missing or fails, or the input has nothing to
draw; dev.sh bench goes on without charts then.  Python 3 standard library
and gnuplot only.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table  # noqa: E402  (the loader and the median rules)

PINGPONG = re.compile(r"^(mproc|baseline|python)/pingpong/")
STREAM = re.compile(r"^(?P<variant>(?:mproc|baseline)/stream/[^/]+)/(?P<size>\d+)$")
US = 1e3  # ns per microsecond


def latency_rows(figures):
    """(name, p50, p99, p99.9) in microseconds, fastest p50 first."""
    rows = []
    for name, fig in figures.items():
        if not PINGPONG.match(name) or not fig.ok:
            continue
        p50, p99, p999 = fig.get("p50_ns"), fig.get("p99_ns"), fig.get("p999_ns")
        if p50 is None:
            continue
        rows.append((name, p50 / US, (p99 or p50) / US, (p999 or p99 or p50) / US))
    return sorted(rows, key=lambda r: r[1])


def stream_series(figures):
    """{variant: [(bytes, msgs_per_s, MB_per_s)]}, sizes ascending."""
    series = {}
    for name, fig in figures.items():
        m = STREAM.match(name)
        t = fig.get("time_ns") if fig.ok else None
        if not m or not t:
            continue
        size = fig.get("msg_bytes") or float(m.group("size"))
        series.setdefault(m.group("variant"), []).append((size, 1e9 / t, size / t * 1e3))
    return {k: sorted(v) for k, v in sorted(series.items())}


def write_latency(out, rows):
    with open(os.path.join(out, "latency.dat"), "w") as f:
        f.write("# benchmark p50_us p99_us p99.9_us\n")
        for name, p50, p99, p999 in rows:
            f.write(f'"{name}" {p50:.4f} {p99:.4f} {p999:.4f}\n')
    height = max(500, 22 * len(rows) + 160)
    return f"""
reset
set terminal pngcairo size 1400,{height} font ",9"
set output "{out}/latency.png"
set termoption noenhanced
set title "Round trip between two processes: percentiles per round trip (log scale)"
set xlabel "microseconds"
set logscale x 10
set grid xtics mxtics
set key top right
set yrange [-1:{len(rows)}]
set ytics nomirror
set offsets 0, 0, 0.5, 0.5
plot "{out}/latency.dat" using 2:0:ytic(1) with points pt 7 ps 1.2 title "p50", \\
     "" using 3:0 with points pt 5 ps 1.0 title "p99", \\
     "" using 4:0 with points pt 9 ps 1.2 title "p99.9", \\
     "" using 2:0:2:4 with xerrorbars lc rgb "#b0b0b0" pt -1 notitle
"""


def write_throughput(out, series):
    plots_rate, plots_bw = [], []
    for i, (variant, points) in enumerate(series.items()):
        path = os.path.join(out, f"stream-{i}.dat")
        with open(path, "w") as f:
            f.write(f"# {variant}: bytes msgs_per_s MB_per_s\n")
            for size, rate, mbs in points:
                f.write(f"{size:g} {rate:.6g} {mbs:.6g}\n")
        plots_rate.append(f'"{path}" using 1:2 with linespoints lw 2 title "{variant}"')
        plots_bw.append(f'"{path}" using 1:3 with linespoints lw 2 title "{variant}"')
    return f"""
reset
set terminal pngcairo size 1400,600 font ",10"
set output "{out}/throughput.png"
set termoption noenhanced
set multiplot layout 1,2 title "One producer process streaming to one consumer process (log scales)"
set logscale xy 10
set xrange [4:8192]
set grid
set xlabel "message size (bytes)"
set key bottom left
set ylabel "messages per second"
plot {", ".join(plots_rate)}
set key top left
set ylabel "MB per second"
plot {", ".join(plots_bw)}
unset multiplot
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", help="Google Benchmark JSON output file(s)")
    ap.add_argument("--out", required=True, help="directory for the charts (created)")
    args = ap.parse_args(argv)
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("bench_plot: gnuplot not found: no charts", file=sys.stderr)
        return 1
    try:
        figures, _ = bench_table.load(args.json)
    except (OSError, ValueError) as e:
        print(f"bench_plot: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    rows, series = latency_rows(figures), stream_series(figures)
    script, made = [], []
    if rows:
        script.append(write_latency(out, rows))
        made.append("latency.png")
    if series:
        script.append(write_throughput(out, series))
        made.append("throughput.png")
    if not script:
        print("bench_plot: no round-trip or streaming benchmarks in the input",
              file=sys.stderr)
        return 1
    gp = os.path.join(out, "charts.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script))
    run = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if run.returncode != 0:
        print(f"bench_plot: gnuplot failed:\n{run.stderr}", file=sys.stderr)
        return 1
    for name in made:
        print(f"bench_plot: wrote {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
