"""Python's side of bench/process.ts: start-to-result of multiprocessing.Process with a trivial
target, for the spawn, forkserver and fork start methods, timed from start() until the result
arrives over a Pipe. Prints one JSON object: the Python version and, per start method, a list of
milliseconds (one per run). Usage: python3 bench/process.py REPEATS"""
import json
import multiprocessing as mp
import sys
import time


def target(conn, x):
    conn.send(x + 1)
    conn.close()


def run(method, n):
    ctx = mp.get_context(method)
    times = []
    for i in range(n + 1):
        parent, child = ctx.Pipe(duplex=False)
        t0 = time.perf_counter()
        p = ctx.Process(target=target, args=(child, i))
        p.start()
        parent.recv()
        t = (time.perf_counter() - t0) * 1000
        p.join()
        if i > 0:
            times.append(t)  # the first run starts the forkserver
    return times


if __name__ == "__main__":
    n = int(sys.argv[1])
    runs = {m: run(m, n) for m in ("spawn", "forkserver", "fork")}
    print(json.dumps({"version": sys.version.split()[0], "runs": runs}))
