#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one example and checks its output.

    check.py PROGRAM [ARGS...]

The check is chosen by the program's name (and its arguments).  The program
must exit 0 within the time limit and print what its seed's Python program
prints, in the structure that matters (who did what); the checks accept
every interleaving the scheduler may produce, and nothing else.
"""
import os
import re
import subprocess
import sys

TIME_LIMIT_S = 30  # the examples' own watchdog fires at 20 s


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def count(lines, pattern):
    return sum(1 for l in lines if re.fullmatch(pattern, l))


def index(lines, pattern, start=0):
    for i in range(start, len(lines)):
        if re.fullmatch(pattern, lines[i]):
            return i
    raise Fail("no line matches %r" % pattern)


def max_inside(lines, enter, leave, limit):
    """Replays enter/leave lines: the most inside at once, never over limit."""
    inside = most = 0
    for l in lines:
        if re.fullmatch(enter, l):
            inside += 1
            most = max(most, inside)
            expect(inside <= limit, "more than %d inside at: %s" % (limit, l))
        elif re.fullmatch(leave, l):
            inside -= 1
            expect(inside >= 0, "someone left who never entered: %s" % l)
    expect(inside == 0, "%d never left" % inside)
    return most


# ---- locks ----

def check_basics(lines, args):
    nums = [l for l in lines if re.fullmatch(r"\d", l)]
    expect(nums == ["1", "1", "2", "3", "4", "5"], "numbers printed: %r" % nums)
    expect(lines[:2] == ["1", "got the key"], "lock part: %r" % lines[:2])
    expect(count(lines, r"a second acquire\(block=False\) fails: .*") == 1, "no -EAGAIN line")
    expect(count(lines, r"releasing an unlocked Lock: .*") == 1, "no -EPERM line")
    expect(count(lines, r"a fifth acquire\(block=False\) fails: .*") == 1, "no semaphore -EAGAIN")
    expect(count(lines, r"acquire\(timeout=0.02\) gives up: .*") == 1, "no -ETIMEDOUT line")
    expect(lines[-1] == "semaphore value: 1", "last line: %r" % lines[-1])


def check_ticket(lines, args):
    users = sorted(int(m.group(1)) for l in lines for m in [re.fullmatch(r"user (\d+)", l)] if m)
    expect(users == list(range(1, 11)), "users: %r" % users)
    bought = count(lines, r"bought a ticket! left: 0")
    sold_out = count(lines, r"sold out: invite your friends to help!")
    expect(bought + sold_out == 10, "%d bought + %d sold out != 10" % (bought, sold_out))
    if args == ["--no-lock"]:
        # The race: all who read "1 left" before the first buyer wrote 0
        # buy it (usually all ten: they start together, and writing takes
        # 30 ms; a client the scheduler held back that long comes too late).
        expect(count(lines, r"tickets left: 1") == bought, "some who saw 1 left did not buy")
        expect(bought >= 2, "no race: only %d bought" % bought)
    else:
        expect(bought == 1, "%d bought the one ticket" % bought)
        if args != ["--lock-buy"]:  # there anyone may look before the sale
            expect(count(lines, r"tickets left: 1") == 1, "searches under the lock")
            expect(count(lines, r"tickets left: 0") == 9, "searches under the lock")
    expect(lines[-1] == 'db.txt now says: {"count": 0}', "last line: %r" % lines[-1])


def check_lock_workers(lines, args):
    expect(len(lines) == 10, "%d lines" % len(lines))
    first, second = lines[0], lines[5]
    expect({first, second} == {"worker1.....", "worker2....."}, "workers: %r" % lines)
    expect(lines == [first] * 5 + [second] * 5, "lines mixed: %r" % lines)


def check_lock_file(lines, args):
    i = index(lines, r"file\.txt:")
    expect(sorted(lines[i + 1:]) == ["Lock acquired directly", "Lock acquired via with"],
           "file: %r" % lines[i + 1:])


# ---- semaphores ----

def check_semaphore_deal(lines, args):
    for what in ("reduce", "deal", "add"):
        expect(count(lines, r"<Process-\d pid \d+> %s Semaphore" % what) == 4, what)
    for n in range(1, 5):
        mine = [l.split()[-2] for l in lines if l.startswith("<Process-%d " % n)]
        expect(mine == ["reduce", "deal", "add"], "Process-%d: %r" % (n, mine))
    max_inside(lines, r"<.*> deal Semaphore", r"<.*> add Semaphore", 3)


def check_semaphore_workers(lines, args):
    expect(count(lines, r"Process-\d acquire") == 5, "5 acquire lines")
    max_inside(lines, r"Process-\d acquire", r"Process-\d release", 2)


def check_semaphore_with(lines, args):
    split = index(lines, r"Process-\d acquired the semaphore")
    threads, processes = lines[:split], lines[split:]
    for kind, part in (("Thread", threads), ("Process", processes)):
        expect(count(part, r"%s-\d acquired the semaphore" % kind) == 5, kind)
        max_inside(part, r"%s-\d acquired the semaphore" % kind,
                   r"%s-\d releases the semaphore" % kind, 3)


def check_ktv(lines, args):
    expect(count(lines, r"\d walks into the KTV \([1-4] inside\)") == 10,
           "10 walk in, 1 to 4 inside")
    expect(count(lines, r"\d walks out of the KTV \([0-3] inside\)") == 10,
           "10 walk out, 0 to 3 left inside")
    max_inside(lines, r"\d walks into .*", r"\d walks out .*", 4)


def check_room_patience(lines, args):
    entered = count(lines, r"user \d entered the room")
    left = count(lines, r"user \d left the room")
    gave_up = count(lines, r"user \d waited too long, leaving")
    expect(entered + gave_up == 10, "%d entered + %d gave up != 10" % (entered, gave_up))
    expect(entered == left, "entered %d, left %d" % (entered, left))
    # Two at a time, one unit each, patience at most three units: at most
    # about six get in, at least two always do.
    expect(entered >= 2 and gave_up >= 1, "entered %d, gave up %d" % (entered, gave_up))
    max_inside(lines, r"user \d entered the room", r"user \d left the room", 2)


# ---- events ----

def check_event_block_timeout(lines, args):
    p2 = index(lines, r"P2, can not wait \(wait returned False\), True\?: False")
    done = index(lines, r"Main: process over, release the resource\.")
    expect(p2 < done, "P2 gave up after the set")
    index(lines, r"P1, Resource is ok, nice\.True\?: True")
    expect(lines.index("P1, I need the resource. waiting for block end....") <
           lines.index("P1, Resource is ok, nice.True?: True"), "P1 order")


def check_event_wait_for(lines, args):
    t = index(lines, r"wait_for_event_timeout: e\.is_set\(\)->False")
    s = index(lines, r"main: event is set")
    expect(t < s, "the timeout came after the set")
    index(lines, r"wait_for_event: e\.is_set\(\)->True")
    expect(count(lines, r"wait_for_event(_timeout)?: starting") == 2, "two starts")


def check_event_func1(lines, args):
    i = index(lines, r"start func1")
    expect(lines[i + 1:i + 3] == ["False", "end func1"], "func1: %r" % lines)
    index(lines, r"main: e\.set\(\), is_set\(\) -> True")


def check_traffic_light(lines, args):
    lights = [l for l in lines if l.endswith(" light")]
    expect(lights == ["green light", "red light"] * 2 + ["green light"], "lights: %r" % lights)
    first_green = lines.index("green light")
    drove = count(lines, r"car \d drives by in two seconds")
    ran = count(lines, r"car \d runs the red light in two seconds")
    homes = [re.fullmatch(r"car (\d) goes home after (\d+) crossings", l) for l in lines]
    homes = [m for m in homes if m]
    expect(sorted(m.group(1) for m in homes) == list("01234"), "cars going home")
    expect(sum(int(m.group(2)) for m in homes) == drove + ran, "crossings add up")
    if args == ["--run-red"]:
        expect(ran >= 1, "nobody ran the red light")
    else:
        expect(ran == 0, "someone ran the red light")
        expect(drove >= 1, "no car drove")
        for i, l in enumerate(lines):
            if l.startswith("car ") and "drives" in l:
                expect(i > first_green, "drove before the first green")


def check_traffic_light_arrivals(lines, args):
    lights = [l for l in lines if l.endswith(" light")]
    expect(lights[0] == "red light", "the light starts red")
    expect(all(a != b for a, b in zip(lights, lights[1:])), "the light does not alternate")
    for i in range(20):
        expect(lines.count("car%d passes" % i) == 1, "car%d passes once" % i)
        if "car%d is waiting" % i in lines:
            expect(lines.index("car%d is waiting" % i) < lines.index("car%d passes" % i),
                   "car%d passed before waiting" % i)
    expect(lines[-1] == "main: all cars passed, the light (a daemon) is switched off",
           "last line %r" % lines[-1])


# ---- pipes ----

def check_pipe_eof(lines, args):
    expect(count(lines, r"producer1 makes baozi #[123]") == 3, "3 made")
    ate = [i for i, l in enumerate(lines) if l == "consumer1 ate a baozi"]
    expect(len(ate) == 3, "3 eaten")
    eof = index(lines, r"consumer1: EOF, the producer closed its end")
    expect(eof > ate[-1], "EOF before the last baozi")


def check_pipe_consumers(lines, args):
    expect(count(lines, r"producer1 makes baozi #[123]") == 3, "3 made")
    expect(count(lines, r"consumer[123] ate a baozi") == 3, "3 eaten, each once")
    for c in "123":
        expect(lines.count("consumer%s: EOF" % c) == 1, "consumer%s EOF" % c)


def check_pipe_bytes(lines, args):
    expect(count(lines, r"consumer1 ate a baozi") == 3, "3 eaten")
    expect(count(lines, r"received 5 bytes") == 3, "3 x 5 bytes")
    long_line = index(lines, r"too long for 10 bytes \(it needs 15\), "
                             r"the whole message: baozibaozibaozi")
    eof = index(lines, r"consumer1: EOF")
    expect(long_line < eof, "BufferTooShort after EOF")
    expect(eof == max(i for i, l in enumerate(lines) if l.startswith("consumer1")), "EOF last")


def check_pipe_poll(lines, args):
    expect(count(lines, r"producer1 makes baozi #[123]") == 3, "3 made")
    expect(count(lines, r"consumer1 ate a baozi") == 3, "3 eaten")
    expect(count(lines, r"poll blocks") == 4, "4 polls")
    expect(count(lines, r"data to read: True") == 4, "4 polls said True")
    expect(count(lines, r"data to read: False") == 0, "a poll said False")
    index(lines, r"right end closed")
    eof = index(lines, r"consumer1: EOF")
    expect(eof == len(lines) - 1 or lines[-1] == "right end closed", "EOF last")


def check_pipe_duplex(lines, args):
    expect(sorted(lines) == ["main got: Hello from the worker process",
                             "worker got: Hello from the main process"], "%r" % lines)
    expect(lines[-1].startswith("main got"), "the answer came before the question")


# ---- queues ----

def check_queue_food(lines, args, how):
    ate = [m.group(1) for l in lines for m in [re.fullmatch(r"consumer \d+ ate (\w+)", l)] if m]
    expect(sorted(ate) == ["baozi", "baozi", "fruit", "fruit", "rice", "rice"], "ate %r" % ate)
    expect(count(lines, r"producer \d+ made #[12] (baozi|fruit|rice)") == 6, "6 made")
    if how:
        expect(count(lines, r"consumer \d+ done \(%s\)" % how) == 2, "2 consumers done")
    return max(i for i, l in enumerate(lines) if re.fullmatch(r"consumer \d+ ate \w+", l))


def check_producer_consumer(lines, args):
    check_queue_food(lines, args, "got None" if args == ["--sentinels"] else "queue closed")


def check_joinable_queue(lines, args):
    last_ate = check_queue_food(lines, args, None)
    done = index(lines, r"main: all tasks done \(0 unfinished\)")
    expect(done > last_ate, "all tasks done before the last was eaten")
    expect(count(lines, r"producer \d+: join\(\) returned") == 3, "3 producers joined")
    expect(count(lines, r"consumer \d+ goes home") == 2, "2 consumers went home")


def check_queue_big_item(lines, args):
    expect(lines == ["join blocks",
                     "join returned: the producer is gone, its item is in shared memory",
                     "get blocks",
                     "the item needs 1000000 bytes",
                     "got 1000000 bytes, 1000000 of them 'X'"], "%r" % lines)


def check_queue_hello(lines, args):
    expect(lines == ["worker got: Hello from the main process"], "%r" % lines)


# ---- shared memory ----

def check_value_counter(lines, args):
    expect(lines[:2] == ["1", "main sees counter.value = 1"], "the seed's worker: %r" % lines[:2])
    m = re.fullmatch(r"value \+= 1 without get_lock\(\): (\d+) \((\d+) increments lost\)",
                     lines[3])
    expect(m and int(m.group(1)) + int(m.group(2)) == 40000, "racy line %r" % lines[3])
    expect(lines[2] == "expected: 40000", lines[2])
    expect(lines[4:] == ["with get_lock(): 40000", "fetch_add: 40000",
                         "tally array: 10000 10000 10000 10000"], "%r" % lines[4:])



# ---- the pool ----

def matches(lines, pattern):
    """The groups of every line that matches, in order, as ints."""
    return [tuple(int(g) for g in m.groups())
            for l in lines for m in [re.fullmatch(pattern, l)] if m]


def check_pool_apply_async(lines, args):
    runs = matches(lines, r"i=(\d+), pid=(\d+)")
    expect(sorted(i for i, _ in runs) == list(range(10)), "tasks run: %r" % runs)
    pids = {pid for _, pid in runs}
    expect(len(pids) <= 5, "%d workers in a Pool(5)" % len(pids))
    results = [r for (r,) in matches(lines, r"got result: (\d+)")]
    expect(sorted(results) == [i * i for i in range(10)], "results: %r" % results)
    expect(len(lines) == 21 and lines.count("main process") == 1, "stray lines")
    for i in range(10):  # a task prints before it returns its result
        ran = index(lines, r"i=%d, pid=\d+" % i)
        expect(ran < lines.index("got result: %d" % (i * i)), "result %d before its task" % i)
    if args == ["--apply"]:  # one at a time, in order, the main process waits
        for i in range(10):
            expect(re.fullmatch(r"i=%d, pid=\d+" % i, lines[2 * i]) and
                   lines[2 * i + 1] == "got result: %d" % (i * i), "apply %d out of order" % i)
        expect(lines[-1] == "main process", "apply() did not block")


def check_pool_map(lines, args):
    mode = args[0] if args else "--map-async"
    star, imap = "starmap" in mode, "imap" in mode
    items = [(1, 2), (1, 2)] if mode in ("--map-async", "--map") else [(1, 2), (3, 4)]
    if star:  # fun(n, k) prints n
        ran = [n for (n,) in matches(lines, r"i=(\d+), pid=\d+")]
        expect(sorted(ran) == [n for n, _ in items], "tasks run: %r" % ran)
    else:
        ran = matches(lines, r"i=\((\d+), (\d+)\), pid=\d+")
        expect(sorted(ran) == items, "tasks run: %r" % ran)
    main_at = lines.index("main process") if "main process" in lines else -1
    expect(main_at >= 0 and lines.count("main process") == 1, "main process once")
    if mode in ("--map", "--starmap"):  # blocking: the results are in first
        expect(main_at == 2, "map() did not block: %r" % lines)
    if not imap:
        expect(len(lines) == 4, "%d lines" % len(lines))
        want = "[%s]" % ", ".join("(%d, %d)" % t for t in items)
        expect(lines[-1] == want, "result %r, not %r" % (lines[-1], want))
        return
    expect(len(lines) == 5, "%d lines" % len(lines))
    got = matches(lines, r"\((\d+), (\d+)\)")
    expect(got == items if mode == "--imap" else sorted(got) == items, "results: %r" % got)
    for a, b in got:  # after the main process started iterating, after the task
        at = lines.index("(%d, %d)" % (a, b))
        expect(at > main_at and at > index(lines, r"i=\(%d, %d\), pid=\d+" % (a, b)),
               "(%d, %d) too early" % (a, b))


def check_pool_maxtasks(lines, args):
    opts = dict(zip(args[::2], (int(v) for v in args[1::2])))
    chunksize = opts.get("--chunksize", 1)
    workers = opts.get("--processes", 1)
    maxtasks = opts.get("--maxtasksperchild", 9)
    runs = matches(lines, r"pid:  (\d+)  got:  (\d+)")
    keys = [x for _, x in runs]
    expect(sorted(keys) == list(range(1, 11)), "keys run: %r" % keys)
    # A task is a chunk: keys x of chunk (x - 1) // chunksize, all in one
    # worker, and no worker runs more than maxtasksperchild chunks.
    chunks = {}
    for pid, x in runs:
        chunks.setdefault(pid, set()).add((x - 1) // chunksize)
    for pid, cs in chunks.items():
        expect(len(cs) <= maxtasks, "pid %d ran %d chunks: %r" % (pid, len(cs), runs))
    owners = {}
    for pid, x in runs:
        expect(owners.setdefault((x - 1) // chunksize, pid) == pid, "chunk split: %r" % runs)
    if workers == 1:
        # One worker takes the chunks in order and leaves after exactly
        # maxtasksperchild of them; its successor has another pid.
        nchunks = -(-10 // chunksize)
        expect(keys == list(range(1, 11)), "keys out of order: %r" % keys)
        expect(len(chunks) == -(-nchunks // maxtasks), "%d workers: %r" % (len(chunks), runs))
        pids = [pid for pid, _ in runs]
        changes = sum(1 for a, b in zip(pids, pids[1:]) if a != b)
        expect(changes == len(chunks) - 1, "a worker came back: %r" % runs)
    want = "got result:  [%s]" % ", ".join("[%d, %d]" % (x, x + 1) for x in range(1, 11))
    expect(lines[-1] == want and len(lines) == 11, "callback: %r" % lines[-1])


def check_pool_ticket(lines, args):
    check_ticket(lines, ["--lock"])  # the same sale, the Lock passed to pool tasks

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    prog, args = sys.argv[1], sys.argv[2:]
    name = os.path.basename(prog)
    check = globals().get("check_" + name)
    if not check:
        sys.exit("no check for %s" % name)
    try:
        run = subprocess.run([prog] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write((e.stdout or b"").decode(errors="replace"))
        sys.exit("FAIL: %s timed out after %d s" % (name, TIME_LIMIT_S))
    out = run.stdout.decode(errors="replace")
    err = run.stderr.decode(errors="replace")
    sys.stdout.write(out)
    sys.stderr.write(err)
    if run.returncode != 0:
        sys.exit("FAIL: %s exited with %d" % (name, run.returncode))
    try:
        check(out.splitlines(), args)
    except Fail as e:
        sys.exit("FAIL: %s %s: %s" % (name, " ".join(args), e))
    print("ok: %s %s" % (name, " ".join(args)))


if __name__ == "__main__":
    main()
