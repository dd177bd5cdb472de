"""The Python side of bench/queue.ts: multiprocessing's Queue, SimpleQueue and Pipe, writer process
to reader process (us per item, timed in the reader from its first item to its last) and a
ping-pong round trip (us, timed in the parent). Prints one JSON object.

    python3 bench/queues.py [items=20000] [round_trips=5000]

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


def reader(end, n, out):
    get = get_of(end)
    get()
    t0 = time.perf_counter()
    for _ in range(n - 1):
        get()
    out.put((time.perf_counter() - t0) * 1e6 / (n - 1))


def writer(end, n, item):
    put = put_of(end)
    for _ in range(n):
        put(item)


def stream(kind, n, item):
    out = mp.SimpleQueue()
    w, r = channel(kind)
    ps = [mp.Process(target=reader, args=(r, n, out)), mp.Process(target=writer, args=(w, n, item))]
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


def pingpong(kind, n):
    if kind == "Pipe":
        here, there = mp.Pipe()
        args, send, recv = (there, there), here.send, here.recv
    else:
        make = mp.Queue if kind == "Queue" else mp.SimpleQueue
        a, b = make(), make()
        args, send, recv = (a, b), a.put, b.get
    p = mp.Process(target=echo, args=(kind, *args, n))
    p.start()
    send(0)
    recv()
    t0 = time.perf_counter()
    for i in range(1, n):
        send(i)
        recv()
    us = (time.perf_counter() - t0) * 1e6 / (n - 1)
    p.join()
    return us


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    trips = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    result = {}
    for kind in ("Queue", "SimpleQueue", "Pipe"):
        result[f"{kind} small"] = stream(kind, n, 1)
        result[f"{kind} 1KiB"] = stream(kind, n, b"x" * 1024)
        result[f"{kind} ping-pong"] = pingpong(kind, trips)
    print(json.dumps(result))
