"""Python's side of bench/subprocess.ts: subprocess.run of a program, output inherited and
captured, in loops of CALLS calls, REPEATS loops of each, interleaved. Python times its own loops,
so its own start is not counted. Prints one JSON object: the Python version and, per kind, a list
of milliseconds per call (one per loop). Usage: python3 bench/subprocess_run.py CALLS REPEATS PROGRAM [ARG...]"""
import json
import subprocess
import sys
import time

calls, repeats, program = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
out = {"version": sys.version.split()[0], "inherit": [], "capture": []}
for _ in range(5):
    subprocess.run(program)
for _ in range(repeats):
    for kind in ("inherit", "capture"):
        start = time.perf_counter()
        for _ in range(calls):
            subprocess.run(program, capture_output=(kind == "capture"))
        out[kind].append((time.perf_counter() - start) * 1000 / calls)
print(json.dumps(out))
