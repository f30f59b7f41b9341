#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python multiprocessing on this machine, for tools/bench_table.py.

Measures what mproc replaces, with the standard library only:

  python/queue/1p1c            Queue: one producer process puts small ints,
                               the main process gets them (time per item)
  python/pingpong/pipe         Pipe(): send/recv round trip with an echoing
                               child (time per round trip, p50/p99)
  python/pool/map_chunksize1   Pool(2).map(trivial, ..., chunksize=1) (time
                               per task)
  python/pool/apply_async      Pool(2).apply_async(trivial).get() round trip
  python/op/lock_acquire_release  multiprocessing.Lock, uncontended

and prints Google Benchmark JSON (one entry per repetition, times in ns) so
that bench_table.py pools it with mproc-bench's output:

    python3 bench/python_mp.py --out build/python-mp.json
    python3 tools/bench_table.py build/bench.json build/python-mp.json

About 10 s on the project's 2-vCPU VM (--scale shrinks or grows the counts).
"""

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import sys
import time

REPS = 3


def _trivial(x):
    return x


def _queue_producer(q, go, n):
    go.wait()
    for i in range(n):
        q.put(i)


def bench_queue(n):
    """One producer process, the main process consumes: time per item."""
    q = mp.Queue()
    go = mp.Event()
    p = mp.Process(target=_queue_producer, args=(q, go, n))
    p.start()
    c0 = time.process_time()
    t0 = time.perf_counter_ns()
    go.set()
    for _ in range(n):
        q.get()
    t = time.perf_counter_ns() - t0
    cpu = (time.process_time() - c0) * 1e9
    p.join()
    return {"iterations": n, "real_time": t / n, "cpu_time": cpu / n}


def _echo(conn, n):
    for _ in range(n):
        conn.send(conn.recv())


def percentiles(samples):
    """Nearest-rank percentiles, as bench/harness.c computes them."""
    s = sorted(samples)

    def rank(num, den):
        r = -(-len(s) * num // den)  # ceil
        return s[max(0, r - 1)]
    return {"p50_ns": rank(1, 2), "p99_ns": rank(99, 100), "p999_ns": rank(999, 1000)}


def bench_pipe(n):
    """Round trips through a duplex Pipe with an echoing child."""
    a, b = mp.Pipe()
    warm = min(500, n // 10 + 1)
    p = mp.Process(target=_echo, args=(b, warm + n))
    p.start()
    for i in range(warm):
        a.send(i)
        a.recv()
    samples = []
    c0 = time.process_time()
    t0 = prev = time.perf_counter_ns()
    for i in range(n):
        a.send(i)
        a.recv()
        now = time.perf_counter_ns()
        samples.append(now - prev)
        prev = now
    t = time.perf_counter_ns() - t0
    cpu = (time.process_time() - c0) * 1e9
    p.join()
    return dict({"iterations": n, "real_time": t / n, "cpu_time": cpu / n}, **percentiles(samples))


def bench_pool_map(n):
    with mp.Pool(2) as pool:
        pool.map(_trivial, range(100), chunksize=1)  # workers up
        c0 = time.process_time()
        t0 = time.perf_counter_ns()
        pool.map(_trivial, range(n), chunksize=1)
        t = time.perf_counter_ns() - t0
        cpu = (time.process_time() - c0) * 1e9
    return {"iterations": n, "real_time": t / n, "cpu_time": cpu / n}


def bench_apply_async(n):
    with mp.Pool(2) as pool:
        for i in range(50):
            pool.apply_async(_trivial, (i,)).get()
        samples = []
        c0 = time.process_time()
        t0 = prev = time.perf_counter_ns()
        for i in range(n):
            pool.apply_async(_trivial, (i,)).get()
            now = time.perf_counter_ns()
            samples.append(now - prev)
            prev = now
        t = time.perf_counter_ns() - t0
        cpu = (time.process_time() - c0) * 1e9
    return dict({"iterations": n, "real_time": t / n, "cpu_time": cpu / n}, **percentiles(samples))


def bench_lock(n):
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    c0 = time.process_time()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    t = time.perf_counter_ns() - t0
    cpu = (time.process_time() - c0) * 1e9
    return {"iterations": n, "real_time": t / n, "cpu_time": cpu / n}


BENCHES = [
    # name, function, count at --scale 1
    ("python/queue/1p1c", bench_queue, 50000),
    ("python/pingpong/pipe", bench_pipe, 5000),
    ("python/pool/map_chunksize1", bench_pool_map, 20000),
    ("python/pool/apply_async", bench_apply_async, 2000),
    ("python/op/lock_acquire_release", bench_lock, 200000),
]


def context():
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": os.path.abspath(__file__),
        "num_cpus": os.cpu_count(),
        "load_avg": load,
        "python": platform.python_version(),
        "start_method": mp.get_start_method(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count (default 1)")
    ap.add_argument("--filter", default="", help="only benchmarks whose name contains this")
    args = ap.parse_args(argv)
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    ctx = context()
    entries = []
    for name, fn, count in BENCHES:
        if args.filter not in name:
            continue
        n = max(10, int(count * args.scale))
        for rep in range(REPS):
            row = fn(n)
            entries.append(dict({
                "name": name, "run_name": name, "run_type": "iteration",
                "repetitions": REPS, "repetition_index": rep, "threads": 1,
                "time_unit": "ns"}, **row))
            print(f"{name} rep {rep}: {row['real_time']:.0f} ns/op", file=sys.stderr)
        med = statistics.median(e["real_time"] for e in entries if e["name"] == name)
        print(f"{name}: median {med:.0f} ns/op", file=sys.stderr)
    doc = json.dumps({"context": ctx, "benchmarks": entries}, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(doc + "\n")
    else:
        print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
