#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Wait counters on against off: the same benchmarks from two builds.

    ./dev.sh bench-counters                   # builds both, runs this
    python3 tools/bench_counters.py ON_BINARY OFF_BINARY [--rounds N] [--filter RE]

ON_BINARY is bench/mproc-bench from a default build, OFF_BINARY the same
from a build with -Dcounters=false (the slow paths' relaxed increments
compiled out; the structs keep their layout, so every benchmark moves the
same bytes).  The two binaries run alternately, N rounds each, so drift of
the machine hits both alike; each figure is the median over the rounds.
The ratio is on / off: 1.00 means the counters cost nothing measurable,
and the spread column (half the range of the off build's own rounds, in %
of its median) says how far apart two runs of one binary already are.
Python 3 standard library only.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

# The paths that count: contended and sleeping waits, where the increments
# are; the uncontended fast paths, where there are none, as the control.
DEFAULT_FILTER = (
    "^mproc/(op/(lock|rlock|sem|event)_|contended/lock/|pingpong/(sem|event|conn)(_delay50us)?/"
    "|stream/ring_copy/(8|64)/|queue/(1p1c|2p2c|mpmc/8B/2p2c)/)"
)


def run_once(binary, flt, min_time):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [binary, "--benchmark_filter=" + flt,
               "--benchmark_min_time=%s" % min_time,
               "--benchmark_out=" + out.name, "--benchmark_out_format=json"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out.name) as f:
            data = json.load(f)
    figs = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
            continue
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        figs[b["name"]] = b["real_time"] * scale
    return figs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("on", help="mproc-bench built with counters (default build)")
    ap.add_argument("off", help="mproc-bench built with -Dcounters=false")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--filter", default=DEFAULT_FILTER)
    ap.add_argument("--min-time", default="0.2")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)

    runs = {"on": [], "off": []}
    for r in range(a.rounds):
        for side in ("off", "on") if r % 2 else ("on", "off"):
            print("round %d/%d: counters %s" % (r + 1, a.rounds, side), file=sys.stderr)
            runs[side].append(run_once(getattr(a, side), a.filter, a.min_time))

    names = [n for n in runs["on"][0] if all(n in f for f in runs["on"] + runs["off"])]
    if not names:
        print("no benchmark matched %r in both builds" % a.filter, file=sys.stderr)
        return 1
    rows = []
    for n in names:
        on = statistics.median(f[n] for f in runs["on"])
        offs = [f[n] for f in runs["off"]]
        off = statistics.median(offs)
        spread = (max(offs) - min(offs)) / 2 / off * 100 if off else 0.0
        rows.append((n, "%.1f" % on, "%.1f" % off, "%.3f" % (on / off if off else 0.0),
                     "%.1f%%" % spread))
    header = ("benchmark", "on (ns)", "off (ns)", "on/off", "off spread")
    if a.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        for r in (header,) + tuple(rows):
            print("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r)))
    ratios = [float(r[3]) for r in rows]
    print("\ngeometric mean on/off over %d benchmarks: %.3f" %
          (len(ratios), statistics.geometric_mean(ratios)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
