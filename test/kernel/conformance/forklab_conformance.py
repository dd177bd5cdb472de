"""The official Jupyter kernel conformance suite, run against the forklab kernel.

The kernelspec named by FORKLAB_KERNEL_NAME must be on JUPYTER_PATH; the vitest file
test/kernel/conformance.test.ts installs one into a temporary prefix and runs this module.
"""
import os
import unittest

import jupyter_kernel_test


# How long the warm-up cell may take: it starts tslab's compiler, which on a loaded machine can
# take longer than the suite's own 15 s per request.
WARM_UP_TIMEOUT = 120


class ForklabKernelTests(jupyter_kernel_test.KernelTests):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A silent cell, not numbered nor kept in history, so that the first test's cell does not
        # pay for starting the compiler.
        msg_id = cls.kc.execute("0", silent=True, store_history=False)
        while cls.kc.get_shell_msg(timeout=WARM_UP_TIMEOUT)["parent_header"].get("msg_id") != msg_id:
            pass
        while True:
            msg = cls.kc.get_iopub_msg(timeout=WARM_UP_TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    kernel_name = os.environ.get("FORKLAB_KERNEL_NAME", "forklab")
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'

    completion_samples = [{"text": "Math.ma", "matches": {"max"}}]
    complete_code_samples = ["1", "const answer = 6 * 7;", "function f() {}"]
    incomplete_code_samples = ["function f() {", "const xs = ["]

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"a" + "b"', "result": "'ab'"},
        {"code": "[1, 2, 3].map((x: number) => x * 2)", "result": "[ 2, 4, 6 ]"},
    ]
    code_display_data = [
        {
            "code": 'import { display } from "forklab";\n'
            'display({ "text/plain": "hi", "text/html": "<b>hi</b>" })',
            "mime": "text/html",
        },
        {
            "code": 'import * as tslab from "tslab";\ntslab.display.html("<i>from tslab</i>")',
            "mime": "text/html",
        },
    ]

    code_history_pattern = "6 * 7"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"
    code_clear_output = 'import { clearOutput } from "forklab";\nclearOutput()'


if __name__ == "__main__":
    unittest.main()
