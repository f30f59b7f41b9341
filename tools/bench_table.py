#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn Google Benchmark JSON from bench/mproc-bench into a comparison table.

    ./build-bench/bench/mproc-bench --benchmark_min_time=0.2 \\
        --benchmark_format=json > bench.json
    python3 tools/bench_table.py bench.json            # plain text
    python3 tools/bench_table.py --markdown bench.json # for docs/benchmarks.md

Several files may be given (e.g. runs of the baseline-only binary and of
mproc-bench, and bench/python_mp.py's output, which has the same shape):
all their runs are pooled.  A file given but missing or empty is skipped
with a warning, so an optional extra file never hides the others.  Where a benchmark has several runs
(--benchmark_repetitions, or several files) its figures are the median over
the runs; where only aggregates were written, the 'median' aggregate is used.

Each figure is the time per iteration (for the two-process ping-pongs: the
mean round trip, wall clock); p50/p99/p99.9 are per-round-trip percentiles
the benchmark itself collected (a round trip's median is often the steadier
ratio: a kernel hand-off has a long tail); 'cpu' is the benchmark process's own CPU
time per iteration (not its peer's); 'foreign' is the CPU time other
processes used meanwhile, in % of one CPU (a figure above 10% is marked '!').  The ratio is mproc / baseline: below 1 mproc
is faster.  For the streaming, queue and contended-lock figures the time is
per message (or per critical section) through the whole set of processes,
so 1e9 / time is the throughput and a ratio of 0.5 means twice the
baseline's throughput.  The idle-waiter pairs compare the waiter's CPU use
(% of one CPU) instead of time.  Where a pair has a target (the project's
goal for that ratio) the 'target' column says whether this run met it; it
is information for the reader, never a test.  Python 3 standard library
only.
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
    # -- sync objects, single process, nobody else there (the inline paths)
    ("mproc/op/lock_acquire_release", "baseline/op/cas_lock_release",
     "Lock acquire+release vs bare CAS lock + release store", {"target": 1.3}),
    ("mproc/op/lock_acquire_release", "baseline/op/pthread_mutex_pshared",
     "Lock vs pshared pthread mutex", {"target": 0.5}),
    ("mproc/op/lock_acquire_release", "baseline/op/pthread_mutex_pshared_robust",
     "Lock (always robust) vs robust pshared pthread mutex", {"target": 0.6}),
    ("mproc/op/rlock_acquire_release", "baseline/op/pthread_mutex_pshared_recursive",
     "RLock acquire+release vs recursive pshared pthread mutex"),
    ("mproc/op/sem_acquire_release", "baseline/op/sem_wait_post",
     "Semaphore acquire+release vs sem_wait+sem_post", {"target": 1.0}),
    ("mproc/op/event_set_clear", "baseline/op/mutex_cond_flag_set_clear",
     "Event set+clear vs mutex+cond flag set(broadcast)+clear"),
    ("mproc/op/value_fetch_add", "baseline/op/atomic_fetch_add", "Value fetch_add vs bare atomic add"),
    ("mproc/op/lock_acquire_release", "python/op/lock_acquire_release",
     "Lock vs Python multiprocessing.Lock"),
    # -- sync hand-offs between two processes (two semaphores / two events)
    ("mproc/pingpong/sem", "baseline/pingpong/cacheline_spin", "Semaphore RTT vs physical floor",
     {"target": 2.5}),
    ("mproc/pingpong/sem", "baseline/pingpong/sem", "Semaphore RTT vs POSIX sem_t"),
    ("mproc/pingpong/event", "baseline/pingpong/cacheline_spin", "Event RTT vs physical floor",
     {"target": 2.5}),
    ("mproc/pingpong/event", "baseline/pingpong/mutex_cond", "Event RTT vs pthread mutex+cond"),
    ("mproc/pingpong/sem_delay50us", "baseline/pingpong/futex_delay50us",
     "Semaphore RTT, waiter asleep, vs raw futex", {"target": 1.15}),
    ("mproc/pingpong/sem_delay50us", "baseline/pingpong/sem_delay50us",
     "Semaphore RTT, waiter asleep, vs POSIX sem_t"),
    ("mproc/pingpong/event_delay50us", "baseline/pingpong/futex_delay50us",
     "Event RTT, waiter asleep, vs raw futex", {"target": 1.15}),
    ("mproc/pingpong/sem_samecpu", "baseline/pingpong/futex_samecpu", "Semaphore RTT, one CPU, vs raw futex"),
    ("mproc/pingpong/sem_samecpu", "baseline/pingpong/sem_samecpu", "Semaphore RTT, one CPU, vs POSIX sem_t"),
    ("mproc/pingpong/event_samecpu", "baseline/pingpong/futex_samecpu", "Event RTT, one CPU, vs raw futex"),
    # -- idle waiters: CPU used while blocked 2 s (absolute target: < 1% of a CPU)
    ("mproc/idle/event_wait", "baseline/idle/sem_wait", "CPU of a waiter blocked 2 s: Event wait",
     {"metric": "idle_cpu_pct", "below": 1.0}),
    ("mproc/idle/sem_acquire", "baseline/idle/sem_wait", "CPU of a waiter blocked 2 s: Semaphore",
     {"metric": "idle_cpu_pct", "below": 1.0}),
    ("mproc/idle/lock_acquire_held", "baseline/idle/sem_wait",
     "CPU of a waiter blocked 2 s: Lock held by another", {"metric": "idle_cpu_pct", "below": 1.0}),
    # -- contended Lock: time per critical section (1e9/t = ops/s); <= 1 means >= pthread
    ("mproc/contended/lock/2proc", "baseline/contended/pthread_mutex/2proc",
     "contended Lock, 2 processes, vs pshared mutex (time per op)", {"target": 1.0}),
    ("mproc/contended/lock/2proc", "baseline/contended/pthread_mutex_robust/2proc",
     "contended Lock, 2 processes, vs robust mutex (time per op)"),
    ("mproc/contended/lock/8proc", "baseline/contended/pthread_mutex/8proc",
     "contended Lock, 8 processes on 2 CPUs, vs pshared mutex (time per op)", {"target": 1.0}),
    ("mproc/contended/lock/8proc", "baseline/contended/pthread_mutex_robust/8proc",
     "contended Lock, 8 processes on 2 CPUs, vs robust mutex (time per op)"),
    ("mproc/contended/lock/8proc", "mproc/contended/lock/2proc",
     "contended Lock, 8 processes vs 2 (collapse check)"),
    # -- process pool (time per task) and Process
    ("mproc/pool/map_chunksize1", "python/pool/map_chunksize1",
     "Pool(2).map of empty tasks, chunksize 1, vs Python", {"target": 0.01}),
    ("mproc/pool/apply_async", "python/pool/map_chunksize1",
     "Pool(2).apply_async of empty tasks (256 in flight) vs Python map", {"target": 0.01}),
    ("mproc/pool/map_chunksize1", "baseline/pool/fork_pipe_map",
     "Pool(2).map, chunksize 1, vs fork+pipe pool in C", {"target": 0.1}),
    ("mproc/pool/apply_async", "baseline/pool/fork_pipe_map",
     "Pool(2).apply_async vs fork+pipe pool in C", {"target": 0.1}),
    ("mproc/pool/map_chunksize1", "baseline/pool/fork_pipe_map",
     "the same, CPU of all processes per task (wall time on a loaded machine is mostly waiting)",
     {"metric": "cpu_ns_per_op"}),
    ("mproc/pool/apply_async", "baseline/pool/fork_pipe_map",
     "the same, CPU of all processes per task", {"metric": "cpu_ns_per_op"}),
    ("mproc/pool/apply_rtt", "python/pool/apply_async", "apply round trip, worker awake, vs Python"),
    ("mproc/pool/apply_rtt", "baseline/pool/fork_pipe_rtt", "apply round trip vs fork+pipe pool"),
    ("mproc/pool/apply_rtt", "baseline/pingpong/cacheline_spin", "apply round trip vs cache-line RTT"),
    ("mproc/pool/apply_rtt/1w", "baseline/pingpong/cacheline_spin",
     "apply round trip, Pool(1) (owner + worker = the 2 CPUs), worker awake, vs cache-line RTT (issue: <= 2 us)"),
    ("mproc/pool/apply_rtt/1w", "baseline/pool/fork_pipe_rtt", "the same vs fork+pipe pool"),
    ("mproc/pool/apply_rtt_asleep", "baseline/pool/futex_rtt_asleep",
     "apply round trip after 2 ms idle vs raw futex, peer asleep as long (medians)",
     {"metric": "p50_ns", "target": 1.5}),
    ("mproc/pool/apply_rtt_asleep", "baseline/pingpong/futex",
     "apply round trip after 2 ms idle vs raw futex back to back (medians)", {"metric": "p50_ns"}),
    ("mproc/idle/pool", "baseline/idle/sem_wait", "CPU of an idle Pool(2) over 2 s: workers + service thread",
     {"metric": "idle_cpu_pct", "below": 1.0}),
    ("mproc/pool/cpu_map/2w", "mproc/pool/cpu_map/1w",
     "CPU-bound map: 2 workers vs 1 (speed-up = 1/ratio)", {"target": 0.556}),
    ("mproc/pool/fib/2w", "mproc/pool/fib/1w",
     "fork-join fib(27): 2 workers vs 1 (speed-up = 1/ratio)", {"target": 0.556}),
    ("mproc/process/start_join", "baseline/process/fork_waitpid",
     "Process start+join vs fork+_exit+waitpid", {"target": 1.2}),
    # -- streaming one producer -> one consumer process (time per message)
    ("mproc/stream/ring_copy/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: ring send/recv vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_zerocopy/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: ring reserve/commit+peek/release vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_copy/8", "baseline/stream/pipe/8",
     "stream 8 B: ring send/recv vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_zerocopy/8", "baseline/stream/pipe/8",
     "stream 8 B: ring zero-copy vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_copy/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: ring send/recv vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_zerocopy/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: ring zero-copy vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_copy/64", "baseline/stream/pipe/64",
     "stream 64 B: ring send/recv vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_zerocopy/64", "baseline/stream/pipe/64",
     "stream 64 B: ring zero-copy vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_copy/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): ring send/recv vs ck_ring spsc typed", {"target": 1.0}),
    ("mproc/stream/ring_zerocopy/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): ring zero-copy vs ck_ring spsc typed", {"target": 1.0}),
    ("mproc/stream/ring_copy/4096", "baseline/stream/pipe/4096",
     "stream 4 KiB (bandwidth): ring send/recv vs pipe"),
    ("mproc/stream/ring_fixed_copy/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: fixed-size ring send/recv vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_fixed_zerocopy/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: fixed-size ring zero-copy vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_fixed_copy/8", "baseline/stream/pipe/8",
     "stream 8 B: fixed-size ring send/recv vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_fixed_copy/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: fixed-size ring send/recv vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_fixed_zerocopy/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: fixed-size ring zero-copy vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_fixed_copy/64", "baseline/stream/pipe/64",
     "stream 64 B: fixed-size ring send/recv vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_fixed_copy/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): fixed-size ring send/recv vs ck_ring spsc typed", {"target": 1.0}),
    ("mproc/stream/ring_fixed_zerocopy/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): fixed-size ring zero-copy vs ck_ring spsc typed", {"target": 1.0}),
    # made in place and checked in place (zero-copy) against made in a buffer,
    # enqueued, dequeued and checked (ck_ring): what zero-copy is for
    ("mproc/stream/ring_zerocopy_made/64", "baseline/stream/ck_ring_spsc_made/64",
     "stream 64 B made+checked: ring zero-copy in place vs ck_ring copies", {"target": 1.0}),
    ("mproc/stream/ring_fixed_zerocopy_made/64", "baseline/stream/ck_ring_spsc_made/64",
     "stream 64 B made+checked: fixed-size ring zero-copy vs ck_ring copies", {"target": 1.0}),
    ("mproc/stream/ring_zerocopy_made/4096", "baseline/stream/ck_ring_spsc_made/4096",
     "stream 4 KiB made+checked: ring zero-copy in place vs ck_ring copies", {"target": 1.0}),
    ("mproc/stream/ring_fixed_zerocopy_made/4096", "baseline/stream/ck_ring_spsc_made/4096",
     "stream 4 KiB made+checked: fixed-size ring zero-copy vs ck_ring copies", {"target": 1.0}),
    ("mproc/stream/ring_burst/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: ring send_burst/recv_burst (32 a call) vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_burst/8", "baseline/stream/pipe/8",
     "stream 8 B: ring bursts vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_burst/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: ring bursts (32 a call) vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_burst/64", "baseline/stream/pipe/64",
     "stream 64 B: ring bursts vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_burst/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): ring bursts (8 a call) vs ck_ring spsc typed", {"target": 1.0}),
    ("mproc/stream/ring_fixed_burst/8", "baseline/stream/ck_ring_spsc/8",
     "stream 8 B: fixed-size ring bursts (32 a call) vs ck_ring spsc", {"target": 0.5}),
    ("mproc/stream/ring_fixed_burst/8", "baseline/stream/pipe/8",
     "stream 8 B: fixed-size ring bursts vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_fixed_burst/64", "baseline/stream/ck_ring_spsc/64",
     "stream 64 B: fixed-size ring bursts (32 a call) vs ck_ring spsc typed", {"target": 0.5}),
    ("mproc/stream/ring_fixed_burst/64", "baseline/stream/pipe/64",
     "stream 64 B: fixed-size ring bursts vs pipe, 1 msg per write", {"target": 0.01}),
    ("mproc/stream/ring_fixed_burst/4096", "baseline/stream/ck_ring_spsc/4096",
     "stream 4 KiB (bandwidth): fixed-size ring bursts (8 a call) vs ck_ring spsc typed", {"target": 1.0}),
    # -- round trips over channels
    ("mproc/pingpong/ring_pair", "baseline/pingpong/cacheline_spin", "ring pair RTT vs physical floor"),
    ("mproc/pingpong/ring_pair", "baseline/pingpong/futex", "ring pair RTT vs raw futex"),
    ("mproc/pingpong/ring_pair_fixed", "baseline/pingpong/cacheline_spin",
     "fixed-size ring pair RTT vs physical floor"),
    ("mproc/pingpong/conn", "baseline/pingpong/cacheline_spin", "Pipe (conn) RTT vs physical floor",
     {"target": 2.5}),
    ("mproc/pingpong/conn", "baseline/pingpong/futex", "Pipe (conn) RTT vs raw futex"),
    ("mproc/pingpong/conn", "baseline/pingpong/pipe", "Pipe (conn) RTT vs pipe(2)"),
    ("mproc/pingpong/conn_delay50us", "baseline/pingpong/futex_delay50us",
     "Pipe (conn) RTT, receiver asleep, vs raw futex", {"target": 1.2}),
    ("mproc/pingpong/conn", "python/pingpong/pipe", "Pipe (conn) RTT vs Python mp.Pipe",
     {"target": 0.02}),
    # -- Queue throughput, small items (time per item through all processes)
    ("mproc/queue/1p1c", "baseline/queue/ck_ring_mpmc/1p1c", "Queue 1+1 vs ck_ring mpmc"),
    ("mproc/queue/1p1c", "baseline/stream/pipe/8", "Queue 1+1 vs pipe, 1 msg per write"),
    ("mproc/queue/1p1c", "python/queue/1p1c", "Queue 1+1 vs Python mp.Queue", {"target": 0.005}),
    ("mproc/queue/2p2c", "baseline/queue/ck_ring_mpmc/2p2c", "Queue 2+2 vs ck_ring mpmc"),
    ("mproc/queue/4p4c", "baseline/queue/ck_ring_mpmc/2p2c",
     "Queue 4+4 (8 procs, 2 CPUs) vs ck_ring mpmc 2+2"),
    ("mproc/queue/4p4c", "mproc/queue/2p2c", "Queue 4+4 vs 2+2 (collapse check)"),
    # -- MPMC ring throughput, fixed-size messages (time per message through all processes)
    ("mproc/queue/mpmc/8B/1p1c", "baseline/queue/ck_ring_mpmc/8B/1p1c", "MPMC ring 1+1, 8 B vs ck_ring mpmc"),
    ("mproc/queue/mpmc/8B/2p2c", "baseline/queue/ck_ring_mpmc/8B/2p2c", "MPMC ring 2+2, 8 B vs ck_ring mpmc",
     {"target": 1.0}),
    ("mproc/queue/mpmc/64B/2p2c", "baseline/queue/ck_ring_mpmc/64B/2p2c",
     "MPMC ring 2+2, 64 B vs ck_ring mpmc typed", {"target": 1.0}),
    ("mproc/queue/mpmc_zc/64B/2p2c", "baseline/queue/ck_ring_mpmc/64B/2p2c",
     "MPMC ring 2+2, 64 B reserve/commit+peek/release vs ck_ring mpmc typed", {"target": 1.0}),
    ("mproc/queue/mpmc/8B/4p4c", "baseline/queue/ck_ring_mpmc/8B/4p4c",
     "MPMC ring 4+4 (8 procs, 2 CPUs), 8 B vs ck_ring mpmc 4+4", {"target": 1.0}),
    ("mproc/queue/mpmc/8B/4p4c", "baseline/queue/ck_ring_mpmc/8B/2p2c",
     "MPMC ring 4+4 (8 procs, 2 CPUs) vs ck_ring mpmc 2+2"),
    ("mproc/queue/mpmc/8B/4p4c", "mproc/queue/mpmc/8B/2p2c", "MPMC ring 4+4 vs 2+2, 8 B (collapse check)"),
    ("mproc/queue/mpmc/64B/4p4c", "mproc/queue/mpmc/64B/2p2c", "MPMC ring 4+4 vs 2+2, 64 B (collapse check)"),
    ("mproc/queue/mpmc/8B/2p2c", "mproc/queue/2p2c", "MPMC ring 2+2 vs Queue 2+2, 8 B"),
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
            "foreign_cpu_pct", "sleeps_per_op", "first_done_pct", "msg_bytes", "idle_cpu_pct",
            "idle_cpu_pct_sched", "wakeups_per_s", "cpus_at_end", "cpu_ns_per_op")
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
    for i, path in enumerate(paths):
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            if i == 0:
                raise
            print(f"bench_table: skipping {path}: {e.strerror}", file=sys.stderr)
            continue
        if "{" not in text and i > 0:
            print(f"bench_table: skipping {path}: no JSON in it", file=sys.stderr)
            continue
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


def fmt_metric(v, metric):
    if metric == "time_ns":
        return fmt_ns(v)
    if v is None:
        return "-"
    return f"{v:.2f}%" if "_pct" in metric else f"{v:.3g}"


def target_cell(opts, ratio, mval):
    """The pair's target and whether this run met it: '<=1.30 ok', '<1.00% MISS'."""
    if "target" in opts:
        t = opts["target"]
        want = f"<={t:g}"
        if ratio is None:
            return want + " ?"
        return want + (" ok" if ratio <= t else " MISS")
    if "below" in opts:
        t = opts["below"]
        want = f"<{t:g}%"
        if mval is None:
            return want + " ?"
        return want + (" ok" if mval < t else " MISS")
    return ""


def pair_rows(figures):
    rows = []
    for entry in PAIRS:
        mproc, base, what = entry[:3]
        opts = entry[3] if len(entry) > 3 else {}
        metric = opts.get("metric", "time_ns")
        m, merr = fig_or_error(figures, mproc)
        b, berr = fig_or_error(figures, base)
        if "missing" in (merr, berr):
            continue    # not in this run (e.g. --benchmark_filter)
        mt = m.get(metric) if m else None
        bt = b.get(metric) if b else None
        r = mt / bt if mt is not None and bt else None
        # Below 1, three decimals: a target of 0.5 must not read as met at 0.503.
        ratio = "-" if r is None else f"{r:.4f}" if r < 0.01 else f"{r:.3f}" if r < 1 else f"{r:.2f}"
        if disturbed(m) or disturbed(b):
            ratio += " !"
        mp = m.get("p50_ns") if m and metric == "time_ns" else None
        bp = b.get("p50_ns") if b and metric == "time_ns" else None
        rows.append([mproc, merr or fmt_metric(mt, metric), base, berr or fmt_metric(bt, metric),
                     ratio, fmt_ns(mp), fmt_ns(bp), f"{mp / bp:.2f}" if mp and bp else "-",
                     target_cell(opts, r, mt), what])
    return rows, ["mproc", "time", "baseline", "time", "ratio", "p50 mproc", "p50 base",
                  "p50 ratio", "target", "comparison"]


# Figures of several processes working at once (time per message or per
# critical section), of idle waiters, and of Python: shown in tables of
# their own, with the columns that matter for them.  'first done': when the
# first worker finished, in % of the last one's time (about 100% is fair;
# 100/N% means one worker ran alone while the others waited); 'cpus': how
# many CPUs the workers were on at the end (a stream ending on one CPU took
# turns in time slices, which flatters a spinning ring: rerun).
THROUGHPUT = re.compile(r"/(?:stream|queue|contended)/")
IDLE = re.compile(r"/idle/")


def latency_kind(name):
    return not THROUGHPUT.search(name) and not IDLE.search(name)


def stats_rows(figures, prefix, keep=latency_kind):
    rows = []
    for name in sorted(n for n in figures if n.startswith(prefix) and keep(n)):
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


def fmt_rate(per_s):
    if per_s is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_s >= scale:
            return f"{per_s / scale:.3g} {unit}/s"
    return f"{per_s:.3g} /s"


def throughput_rows(figures):
    rows = []
    for name in sorted(n for n in figures if THROUGHPUT.search(n) and not n.startswith("python/")):
        fig, err = fig_or_error(figures, name)
        if err:
            rows.append([name, err] + ["-"] * 5)
            continue
        t = fig.get("time_ns")
        size = fig.get("msg_bytes")
        mbs = f"{size / t * 1e3:.0f} MB/s" if t and size else "-"
        sleeps = fig.get("sleeps_per_op")
        first = fig.get("first_done_pct")
        cpus = fig.get("cpus_at_end")
        rows.append([name, fmt_ns(t), fmt_rate(1e9 / t if t else None), mbs,
                     "-" if sleeps is None else f"{sleeps:.2g}",
                     "-" if first is None else f"{first:.0f}%",
                     "-" if cpus is None else f"{cpus:.3g}",
                     fmt_pct(fig.get("foreign_cpu_pct"))])
    return rows, ["benchmark", "time/op", "rate", "bandwidth", "sleeps/op", "first done",
                  "cpus", "foreign"]


def idle_rows(figures):
    rows = []
    for name in sorted(n for n in figures if IDLE.search(n)):
        fig, err = fig_or_error(figures, name)
        if err:
            rows.append([name, err] + ["-"] * 3)
            continue
        w = fig.get("wakeups_per_s")
        rows.append([name, fmt_metric(fig.get("idle_cpu_pct"), "idle_cpu_pct"),
                     fmt_metric(fig.get("idle_cpu_pct_sched"), "idle_cpu_pct_sched"),
                     "-" if w is None else f"{w:.1f}", fmt_pct(fig.get("foreign_cpu_pct"))])
    return rows, ["benchmark", "cpu (stat)", "cpu (schedstat)", "wakeups/s", "foreign"]


def python_rows(figures):
    rows = []
    for name in sorted(n for n in figures if n.startswith("python/")):
        fig, err = fig_or_error(figures, name)
        if err:
            rows.append([name, err] + ["-"] * 4)
            continue
        t = fig.get("time_ns")
        rows.append([name, fmt_ns(t), fmt_rate(1e9 / t if t else None), fmt_ns(fig.get("p50_ns")),
                     fmt_ns(fig.get("p99_ns"))])
    return rows, ["benchmark", "time/op", "rate", "p50", "p99"]


def text_table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    num = [i for i in range(len(header))
           if i > 0 and header[i] not in ("baseline", "comparison", "target")]

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
        ("Several processes at once: streams, queues, contended locks (time per message or "
         "critical section)", throughput_rows(figures)),
        ("Idle waiters: CPU used while blocked 2 s (% of one CPU)", idle_rows(figures)),
        ("Python multiprocessing (bench/python_mp.py)", python_rows(figures)),
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
