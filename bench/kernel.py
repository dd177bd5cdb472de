"""The jupyter_client driver of bench/kernel.ts: starts each kernel of the config through a
temporary kernelspec and KernelManager, as Jupyter does, and times start to ready
(kernel_info_reply), the first cell, start to first result and warm cells. Prints one JSON object.
Usage: python bench/kernel.py CONFIG_JSON (repeats, cells, cwd, kernels: name -> argv)"""
import atexit, inspect, json, os, shutil, sys, tempfile, time
import jupyter_client
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

config = json.loads(sys.argv[1])
repeats, cells, cwd = config["repeats"], config["cells"], config["cwd"]
kernels = config["kernels"]  # name -> argv with {connection_file}

spec_root = tempfile.mkdtemp(prefix="forklab-bench-kernelspecs-")
atexit.register(shutil.rmtree, spec_root, True)
for name, argv in kernels.items():
    os.makedirs(os.path.join(spec_root, name))
    with open(os.path.join(spec_root, name, "kernel.json"), "w") as f:
        json.dump({"argv": argv, "display_name": name, "language": "typescript"}, f)
ksm = KernelSpecManager(kernel_dirs=[spec_root])

env_with = dict(os.environ)
env_without = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
envs = [("set", env_with), ("unset", env_without)] if "NODE_EXTRA_CA_CERTS" in os.environ else [("unset", env_without)]


def round_trip(kc, code="1"):
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    result = None
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_result":
            result = msg["content"]["data"].get("text/plain")
        elif kind == "stream" and msg["content"]["text"].strip():
            result = msg["content"]["text"].strip()  # tslab shows the value on stdout
        elif kind == "error":
            raise RuntimeError("cell failed: %s" % msg["content"].get("evalue"))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            elapsed = (time.perf_counter() - t0) * 1000
            break
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:  # e.g. a second kernel_info_reply
        reply = kc.get_shell_msg(timeout=60)
    if reply["content"]["status"] != "ok" or result != "1":
        raise RuntimeError("unexpected cell result %r (%s)" % (result, reply["content"]["status"]))
    return elapsed


def one_start(name, env):
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    km.start_kernel(env=env, cwd=cwd, stdout=log, stderr=log)
    try:
        kc = km.client()
        kc.start_channels()
        shell = kc.shell_channel
        plain_get = shell.get_msg
        reply_at = []

        def note(msg):
            if msg["msg_type"] == "kernel_info_reply" and not reply_at:
                reply_at.append(time.perf_counter())
            return msg

        # jupyter_client 7's channels return a coroutine here, 8's blocking client a message.
        def timed_get(timeout=None):
            got = plain_get(timeout)
            if inspect.isawaitable(got):
                async def later():
                    return note(await got)
                return later()
            return note(got)

        shell.get_msg = timed_get
        kc.wait_for_ready(timeout=60)
        ready_returned = time.perf_counter()
        shell.get_msg = plain_get
        ready = (reply_at[0] - t0) * 1000
        flush = (ready_returned - reply_at[0]) * 1000
        first = round_trip(kc)
        first_result = (time.perf_counter() - t0) * 1000
        warm = [round_trip(kc) for _ in range(cells)]
        kc.stop_channels()
        return {"ready": ready, "flush": flush, "first": first, "first_result": first_result, "warm": warm}
    except Exception as error:
        process = getattr(getattr(km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        log.seek(0)
        tail = log.read()[-2000:].decode("utf8", "replace")
        raise RuntimeError("%s (%s, exit code %s); its output:\n%s" % (error, name, code, tail)) from error
    finally:
        km.shutdown_kernel(now=False)
        log.close()


out = {"jupyter_client": jupyter_client.__version__, "python": sys.version.split()[0], "runs": {}, "failed_starts": []}
for name in kernels:
    one_start(name, envs[0][1])  # unmeasured: fills the file cache
combos = [(name, label, env) for label, env in envs for name in kernels]
for r in range(repeats):
    k = r % len(combos)
    for name, label, env in combos[k:] + combos[:k]:
        for attempt in range(3):
            try:
                res = one_start(name, env)
                break
            except Exception as error:
                if attempt == 2:
                    raise
                out["failed_starts"].append(str(error))
                sys.stderr.write("\nstart failed, once more: %s\n" % error)
        out["runs"].setdefault("%s|%s" % (name, label), []).append(res)
        sys.stderr.write("\rrepeat %d/%d  %-8s certs %-5s  ready %6.0f ms  first cell %6.1f ms   " % (r + 1, repeats, name, label, res["ready"], res["first"]))
        sys.stderr.flush()
sys.stderr.write("\n")
print(json.dumps(out))
