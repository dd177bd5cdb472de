"""Python's side of bench/pool.ts: multiprocessing.Pool(2) and ProcessPoolExecutor(2) on the
same tiny task (2 * x) and a CPU-bound task of about 50 ms. Prints one JSON object of lists of
milliseconds (one per repeat). Usage: python3 bench/pool.py REPEATS [PART...], PART one of
tiny (Pool's apply_async, map, imap; the executor's submit), executor_map, cpu; default all.
bench/pool.ts calls it once per round and part, so that Python's rounds alternate with the others."""
import json, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import Pool


def double(x):
    return 2 * x


def busy(n):
    x = 0.0
    for i in range(n):
        x += i ** 0.5
    return x


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def calibrate(target_ms=50):
    n = 100_000
    while True:
        ms = timed(lambda: busy(n))
        if ms > 20:
            return int(n * target_ms / ms)
        n *= 2


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    parts = set(sys.argv[2:]) or {"tiny", "executor_map", "cpu"}
    out = {k: [] for k in ["pool_apply_async", "pool_map", "pool_imap1", "executor_submit", "executor_map", "cpu1", "cpu2"]}
    if "tiny" in parts:
        with Pool(2) as p:
            p.map(double, range(100))
            for _ in range(repeats):
                out["pool_apply_async"].append(timed(lambda: [r.get() for r in [p.apply_async(double, (i,)) for i in range(20_000)]]))
                out["pool_map"].append(timed(lambda: p.map(double, range(100_000))))
                out["pool_imap1"].append(timed(lambda: list(p.imap(double, range(20_000), 1))))
    if "tiny" in parts or "executor_map" in parts:
        with ProcessPoolExecutor(2) as ex:
            list(ex.map(double, range(100)))
            for _ in range(repeats if "tiny" in parts else 0):
                out["executor_submit"].append(timed(lambda: [f.result() for f in [ex.submit(double, i) for i in range(20_000)]]))
            # Its default chunksize is 1: one message per item, so one run says enough.
            if "executor_map" in parts:
                out["executor_map"].append(timed(lambda: list(ex.map(double, range(100_000)))))
    if "cpu" in parts:
        n = calibrate()
        for workers, key in [(1, "cpu1"), (2, "cpu2")]:
            with Pool(workers) as p:
                p.map(double, range(10))
                for _ in range(max(1, repeats // 2)):
                    out[key].append(timed(lambda: p.map(busy, [n] * 40, 1)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
