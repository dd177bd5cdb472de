"""The Python side of bench/queue.ts: multiprocessing's Queue, SimpleQueue and Pipe, writer process
to reader process (us per item) and a ping-pong round trip (us, timed in the parent). Each figure
is timed over the last n items (or round trips) of a run of `warm + n`, so that it is the steady
cost once both processes have run a while; for Queue also over a run of n alone, from its first
item to its last ("cold": fresh processes). Prints one JSON object ("Queue small", "Queue small cold", ...).

    python3 bench/queues.py [items=20000] [round_trips=5000] [warm_items=150000] [warm_round_trips=10000]

(Not named queue.py: Python puts this folder first on the module path, and multiprocessing
imports the standard library's queue.)
"""
import json
import multiprocessing as mp
import sys
import time


def channel(kind):
    """(send, recv) callables on the writer's and the reader's side."""
    if kind == "Pipe":
        r, w = mp.Pipe(False)
        return w, r
    q = mp.Queue() if kind == "Queue" else mp.SimpleQueue()
    return q, q


def put_of(end):
    return end.send if hasattr(end, "send") else end.put


def get_of(end):
    return end.recv if hasattr(end, "recv") else end.get


def timed(step, n, warm):
    """Run step() warm + n times; us per step over the last n (with no warm-up, from the first to the last)."""
    start, end = (warm - 1, warm + n - 1) if warm > 0 else (0, n - 1)
    t0 = 0.0
    for i in range(end + 1):
        step()
        if i == start:
            t0 = time.perf_counter()
    return (time.perf_counter() - t0) * 1e6 / (end - start)


def reader(end, n, warm, out):
    out.put(timed(get_of(end), n, warm))


def writer(end, n, item):
    put = put_of(end)
    for _ in range(n):
        put(item)


def stream(kind, n, warm, item):
    out = mp.SimpleQueue()
    w, r = channel(kind)
    ps = [mp.Process(target=reader, args=(r, n, warm, out)), mp.Process(target=writer, args=(w, warm + n, item))]
    for p in ps:
        p.start()
    us = out.get()
    for p in ps:
        p.join()
    return us


def echo(kind, there, back, n):
    get, put = get_of(there), put_of(back)
    for _ in range(n):
        put(get())


def pingpong(kind, n, warm):
    if kind == "Pipe":
        here, there = mp.Pipe()
        args, send, recv = (there, there), here.send, here.recv
    else:
        make = mp.Queue if kind == "Queue" else mp.SimpleQueue
        a, b = make(), make()
        args, send, recv = (a, b), a.put, b.get
    p = mp.Process(target=echo, args=(kind, *args, warm + n))
    p.start()

    def trip():
        send(0)
        recv()

    us = timed(trip, n, warm)
    p.join()
    return us


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    n, trips, warm, warm_trips = args + [20000, 5000, 150000, 10000][len(args):]
    result = {}
    for kind in ("Queue", "SimpleQueue", "Pipe"):
        figures = {
            "small": lambda warm: stream(kind, n, warm, 1),
            "1KiB": lambda warm: stream(kind, n, warm, b"x" * 1024),
            "ping-pong": lambda warm: pingpong(kind, trips, warm),
        }
        for figure, run in figures.items():
            result[f"{kind} {figure}"] = run(warm_trips if figure == "ping-pong" else warm)
            if kind == "Queue":
                result[f"{kind} {figure} cold"] = run(0)
    print(json.dumps(result))
