"""Protocol behaviour of the forklab kernel beyond the conformance suite, through jupyter_client.

Run by test/kernel/jupyter-client.test.ts with the kernelspec on JUPYTER_PATH.
"""
import json
import os
import tempfile
import time
import unittest
from queue import Empty

import zmq
from jupyter_client.manager import start_new_kernel

KERNEL = os.environ.get("FORKLAB_KERNEL_NAME", "forklab")
TIMEOUT = 30


class ForklabProtocolTests(unittest.TestCase):
    def setUp(self):
        self.km, self.kc = start_new_kernel(kernel_name=KERNEL)

    def tearDown(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    # -- helpers ---------------------------------------------------------------------------

    def outputs_of(self, msg_id):
        """iopub messages with this parent, until its idle status."""
        messages = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return messages

    def reply_to(self, msg_id):
        while True:
            reply = self.kc.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def wait_for_input(self, msg_id):
        """Wait until the kernel has started running this request."""
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                return

    def run_cell(self, code, **kwargs):
        msg_id = self.kc.execute(code, **kwargs)
        reply = self.reply_to(msg_id)
        return reply, self.outputs_of(msg_id)

    def start_spinning_cell(self):
        """Run a cell that never yields, and return once it is spinning.

        The cell says it runs by creating a file: a SIGINT that arrives while tslab is still
        type-checking the cell stops it before it runs, which is not what these tests are about.
        """
        marker = os.path.join(tempfile.mkdtemp(), "spinning")
        msg_id = self.kc.execute(
            'require("fs").writeFileSync(%s, "");\nwhile (true) {}' % json.dumps(marker)
        )
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(marker):
            if time.monotonic() > deadline:
                self.fail("the spinning cell did not start within %d s" % TIMEOUT)
            time.sleep(0.02)
        return msg_id

    def start_cell_that_awaits(self, code, report='""'):
        """Run `code`, which awaits, and return once it is awaiting.

        The cell writes a file (with `report`) from a setImmediate callback, which runs only once
        the cell's synchronous part has ended: a SIGINT at the very moment it ends can be taken by
        Node's own SIGINT watchdog for that script, and lost.
        """
        self.marker = os.path.join(tempfile.mkdtemp(), "awaiting")
        msg_id = self.kc.execute(
            'setImmediate(() => require("fs").writeFileSync(%s, %s + "\\n"));\n%s'
            % (json.dumps(self.marker), report, code)
        )
        deadline = time.monotonic() + TIMEOUT
        while not (os.path.exists(self.marker) and os.path.getsize(self.marker) > 0):
            if time.monotonic() > deadline:
                self.fail("the cell did not start awaiting within %d s" % TIMEOUT)
            time.sleep(0.02)
        return msg_id

    def stdout_of(self, outputs):
        return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")

    # -- tests -----------------------------------------------------------------------------

    def test_signal_interrupts_a_spinning_cell_and_the_kernel_lives(self):
        msg_id = self.start_spinning_cell()
        self.km.interrupt_kernel()
        reply = self.reply_to(msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        reply, outputs = self.run_cell("6 * 7")
        self.assertEqual(reply["content"]["status"], "ok")
        results = [m for m in outputs if m["msg_type"] == "execute_result"]
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "42")

    def test_interrupt_request_stops_a_spinning_cell(self):
        msg_id = self.start_spinning_cell()
        self.kc.control_channel.send(self.kc.session.msg("interrupt_request", {}))
        reply = self.reply_to(msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        control = self.kc.get_control_msg(timeout=TIMEOUT)
        self.assertEqual(control["msg_type"], "interrupt_reply")
        reply, _ = self.run_cell("1")
        self.assertEqual(reply["content"]["status"], "ok")

    def test_interrupt_request_stops_a_cell_awaiting_a_promise(self):
        msg_id = self.start_cell_that_awaits("await new Promise(() => {});")
        self.kc.control_channel.send(self.kc.session.msg("interrupt_request", {}))
        control = self.kc.get_control_msg(timeout=TIMEOUT)
        self.assertEqual(control["msg_type"], "interrupt_reply")
        reply = self.reply_to(msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        reply, _ = self.run_cell("1")
        self.assertEqual(reply["content"]["status"], "ok")

    def test_late_output_carries_the_header_of_the_cell_that_caused_it(self):
        first = self.kc.execute(
            "let release: () => void;\n"
            "const gate = new Promise<void>((resolve) => (release = resolve));\n"
            'gate.then(() => console.log("late line"));'
        )
        self.reply_to(first)
        self.outputs_of(first)
        second = self.kc.execute("release();\nawait gate;\nawait new Promise((r) => setImmediate(r));")
        self.reply_to(second)
        late = []
        seen_second_idle = False
        while not seen_second_idle:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["msg_type"] == "stream" and "late line" in msg["content"]["text"]:
                late.append(msg)
            seen_second_idle = (
                msg["parent_header"].get("msg_id") == second
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            )
        self.assertEqual(len(late), 1)
        self.assertEqual(late[0]["parent_header"]["msg_id"], first)

    def test_requests_queued_behind_an_error_are_aborted_unless_told_otherwise(self):
        ids = [self.kc.execute('throw new Error("first")'), self.kc.execute("1"), self.kc.execute("2")]
        statuses = [self.reply_to(i)["content"]["status"] for i in ids]
        self.assertEqual(statuses, ["error", "aborted", "aborted"])

        ids = [
            self.kc.execute('throw new Error("again")', stop_on_error=False),
            self.kc.execute("1", stop_on_error=False),
            self.kc.execute("2", stop_on_error=False),
        ]
        statuses = [self.reply_to(i)["content"]["status"] for i in ids]
        self.assertEqual(statuses, ["error", "ok", "ok"])

    def test_silent_and_store_history(self):
        reply, _ = self.run_cell("1")
        count = reply["content"]["execution_count"]
        reply, outputs = self.run_cell("2", silent=True)
        self.assertNotIn("execute_input", [m["msg_type"] for m in outputs])
        self.assertNotIn("execute_result", [m["msg_type"] for m in outputs])
        reply, _ = self.run_cell("3", store_history=False)
        reply, _ = self.run_cell("4")
        self.assertEqual(reply["content"]["execution_count"], count + 1)

    def test_errors_point_into_the_cell_not_the_generated_javascript(self):
        reply, outputs = self.run_cell(
            "interface Point { x: number }\n"
            "function fail(p: Point): never {\n"
            '  throw new RangeError("bad x " + p.x);\n'
            "}\n"
            "fail({ x: 3 });"
        )
        error = [m for m in outputs if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(error["ename"], "RangeError")
        self.assertEqual(error["evalue"], "bad x 3")
        trace = "\n".join(error["traceback"])
        self.assertIn(":3:", trace)  # the throw is on the cell's third line
        self.assertIn('throw new RangeError("bad x " + p.x);', trace)
        reply, outputs = self.run_cell("const n: number = 1;\nconst s: string = n;")
        error = [m for m in outputs if m["msg_type"] == "error"][0]["content"]
        self.assertEqual(error["ename"], "TypeScriptError")
        self.assertIn(":2:7", error["evalue"])

    def test_the_library_imports_by_name_with_types_completion_and_hover(self):
        reply, outputs = self.run_cell('import { spawn } from "forklab";\nconst n: number = spawn;')
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "TypeScriptError")
        self.assertIn("not assignable to type 'number'", reply["content"]["evalue"])
        reply, _ = self.run_cell('import { spawn, cpuCount } from "forklab";\ncpuCount()')
        self.assertEqual(reply["content"]["status"], "ok", reply["content"])
        code = "cpuCo"
        complete = self.kc.complete(code, len(code), reply=True, timeout=TIMEOUT)["content"]
        self.assertIn("cpuCount", complete["matches"])
        inspect = self.kc.inspect("spawn", 3, reply=True, timeout=TIMEOUT)["content"]
        self.assertTrue(inspect["found"])
        self.assertIn("Process", inspect["data"]["text/plain"])

    def test_input_asks_the_frontend_on_the_stdin_channel(self):
        msg_id = self.kc.execute(
            'import { input } from "forklab";\n'
            'const answer = await input("Your name? ");\n'
            'console.log(`Hello, ${answer}!`);',
            allow_stdin=True,
        )
        request = self.kc.get_stdin_msg(timeout=TIMEOUT)
        self.assertEqual(request["msg_type"], "input_request")
        self.assertEqual(request["content"], {"prompt": "Your name? ", "password": False})
        self.assertEqual(request["parent_header"]["msg_id"], msg_id)
        self.kc.input("Ada")
        reply = self.reply_to(msg_id)
        self.assertEqual(reply["content"]["status"], "ok", reply["content"])
        self.assertIn("Hello, Ada!", self.stdout_of(self.outputs_of(msg_id)))

    def test_input_without_stdin_fails_with_a_clear_error(self):
        reply, _ = self.run_cell('import { input } from "forklab";\nawait input("? ");', allow_stdin=False)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertIn("allow_stdin is false", reply["content"]["evalue"])

    def test_a_program_a_cell_started_updates_its_block_after_the_cell_ended(self):
        first = self.kc.execute(
            'import { Popen, PIPE } from "forklab";\n'
            "const program = new Popen([process.execPath, \"-e\", "
            "\"console.log('first'); process.stdin.once('data', () => console.log('second'))\"], "
            "{ stdin: PIPE });"
        )
        self.reply_to(first)
        displays = [m for m in self.outputs_of(first) if m["msg_type"] == "display_data"]
        self.assertEqual(len(displays), 1)
        display_id = displays[0]["content"]["transient"]["display_id"]

        second = self.kc.execute('program.stdin!.end("go\\n");\nawait program.wait();')
        self.reply_to(second)
        # The block's last update (with the exit code) may come just after the second cell's
        # idle: the program's pipes can close after it exits. Wait for it, whenever it comes.
        final = None
        while final is None:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["msg_type"] == "update_display_data" and "exit 0" in msg["content"]["data"]["text/plain"]:
                final = msg
        self.assertEqual(final["content"]["transient"]["display_id"], display_id)
        self.assertEqual(final["parent_header"]["msg_id"], first)
        self.assertIn("first\nsecond", final["content"]["data"]["text/plain"])

    def test_bad_signature_and_malformed_frames_are_dropped_and_the_kernel_serves_on(self):
        context = zmq.Context.instance()
        socket = context.socket(zmq.DEALER)
        info = self.km.get_connection_info()
        socket.connect("%s://%s:%d" % (info["transport"], info["ip"], info["shell_port"]))
        socket.send_multipart([b"<IDS|MSG>", b"0" * 64, b"{}", b"{}", b"{}", b"{}"])
        socket.send_multipart([b"<IDS|MSG>"])
        socket.send_multipart([b"not a jupyter message"])
        socket.close(linger=1000)
        reply = self.kc.kernel_info(reply=True, timeout=TIMEOUT)
        self.assertEqual(reply["content"]["status"], "ok")

    def wait_until_gone(self, pid):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            if time.monotonic() > deadline:
                self.fail("process %d still runs %d s later" % (pid, TIMEOUT))
            time.sleep(0.05)

    def test_an_interrupted_cell_terminates_the_processes_it_started(self):
        reply, outputs = self.run_cell(
            'import { spawn } from "forklab";\n'
            "const earlier = spawn(() => new Promise(() => setInterval(() => {}, 1000)));\n"
            "console.log(earlier.pid);"
        )
        earlier = int(self.stdout_of(outputs).strip().splitlines()[-1])
        msg_id = self.start_cell_that_awaits(
            "const p = spawn(() => new Promise(() => setInterval(() => {}, 1000)));\n"
            "await p.join();",
            report="String(p.pid)",
        )
        with open(self.marker) as f:
            pid = int(f.read())
        self.km.interrupt_kernel()
        reply = self.reply_to(msg_id)
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        self.wait_until_gone(pid)
        os.kill(earlier, 0)  # a process another cell started keeps running

    def test_library_processes_end_with_the_kernel(self):
        reply, outputs = self.run_cell(
            'import { spawn } from "forklab";\n'
            "const p = spawn(() => new Promise(() => setInterval(() => {}, 1000)));\n"
            "console.log(p.pid);"
        )
        self.assertEqual(reply["content"]["status"], "ok", reply["content"])
        pid = int(self.stdout_of(outputs).strip().splitlines()[-1])
        os.kill(pid, 0)  # alive now
        self.km.shutdown_kernel(now=False)
        self.wait_until_gone(pid)
        self.km, self.kc = start_new_kernel(kernel_name=KERNEL)


if __name__ == "__main__":
    unittest.main()
