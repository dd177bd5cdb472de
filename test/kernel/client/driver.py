"""One kernel, driven by jupyter_client for a TypeScript test (see session.ts).

Commands arrive as JSON lines on stdin; every message the kernel sends, on any channel, and the
answer to every command go out as JSON lines on stdout. One thread does all of it, polling stdin
and the client's sockets together: zmq sockets must not be shared between threads.
"""
import json
import os
import signal
import sys

import zmq
from jupyter_client.manager import start_new_kernel


def emit(record):
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def main():
    options = json.loads(sys.stdin.readline())
    stderr = open(options["stderr"], "wb")
    km, kc = start_new_kernel(kernel_name=options["kernel"], cwd=options["cwd"], stderr=stderr)
    channels = {
        "shell": kc.shell_channel,
        "iopub": kc.iopub_channel,
        "control": kc.control_channel,
        "stdin": kc.stdin_channel,
    }
    poller = zmq.Poller()
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    by_socket = {}
    for name, channel in channels.items():
        poller.register(channel.socket, zmq.POLLIN)
        by_socket[channel.socket] = name
    emit({"ready": True, "pid": km.provisioner.process.pid})
    stdin = os.fdopen(sys.stdin.fileno(), "r", buffering=1)
    try:
        while True:
            for socket, _ in poller.poll():
                if socket == sys.stdin.fileno():
                    line = stdin.readline()
                    if not line:
                        return
                    command = json.loads(line)
                    if not handle(command, km, kc, channels):
                        return
                    continue
                name = by_socket[socket]
                msg = channels[name].get_msg(timeout=0)
                emit({
                    "channel": name,
                    "msg_type": msg["msg_type"],
                    "msg_id": msg["header"]["msg_id"],
                    "parent": msg["parent_header"].get("msg_id"),
                    "content": msg["content"],
                    "metadata": msg["metadata"],
                })
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=options.get("now", False))
        else:
            km.cleanup_resources()


def handle(command, km, kc, channels):
    op, ref = command["op"], command.get("ref")
    if op == "send":
        msg = kc.session.msg(command["msg_type"], command["content"])
        channels[command["channel"]].send(msg)
        emit({"ref": ref, "msg_id": msg["header"]["msg_id"]})
    elif op == "raw":
        # Frames as given (text), signed with the session's key unless told to sign badly: for
        # the tests of what the kernel does with a message it cannot read.
        parts = [part.encode("utf8") for part in command["parts"]]
        signature = kc.session.sign(parts) if command.get("signed", True) else b"0" * 64
        channels[command["channel"]].socket.send_multipart([b"<IDS|MSG>", signature] + parts)
        emit({"ref": ref})
    elif op == "input":
        kc.input(command["value"])
        emit({"ref": ref})
    elif op == "signal":
        km.signal_kernel(getattr(signal, command["name"]))
        emit({"ref": ref})
    elif op == "exit_status":
        # None while the kernel runs; its exit code, negative for a signal, once it has ended.
        emit({"ref": ref, "returncode": km.provisioner.process.poll()})
    elif op == "stop":
        return False
    return True


if __name__ == "__main__":
    main()
