/**
 * The kernel under Jupyter's own client: the official conformance suite (jupyter_kernel_test) and
 * forklab's protocol tests (interrupts, late output, aborts, bad messages, cleanup), both run by
 * Debian's /usr/bin/python3 against a kernelspec installed into a temporary prefix.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findJupyterPython, jupyterAvailable } from "../support/jupyter";

const root = path.resolve(__dirname, "..", "..");
const suites = path.join(__dirname, "conformance");
// Each suite starts a dozen kernels one after another; on a loaded 2-core machine that can take
// minutes. The deadline only stops a hung suite.
const SUITE_DEADLINE_MS = 600_000;
const available = jupyterAvailable("the kernel conformance tests") && hasKernelTest();

function hasKernelTest(): boolean {
  const probe = spawnSync(findJupyterPython()!, ["-c", "import jupyter_kernel_test"], { encoding: "utf8" });
  if (probe.status === 0) return true;
  const message = "jupyter_kernel_test not found: install Debian's python3-jupyter-kernel-test";
  if (process.env.FORKLAB_REQUIRE_JUPYTER === "1") throw new Error(message);
  console.warn(`\n!!! SKIPPED: ${message}\n`);
  return false;
}

describe.skipIf(!available)("the kernel under jupyter_client", () => {
  let prefix: string;

  beforeAll(() => {
    prefix = mkdtempSync(path.join(tmpdir(), "forklab-kernelspec-"));
    const install = spawnSync(process.execPath, [path.join(root, "bin", "forklab.js"), "install", "--prefix", prefix], { encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
  });

  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  function unittest(module: string) {
    const result = spawnSync(findJupyterPython()!, ["-m", "unittest", "-v", module], {
      cwd: suites,
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: path.join(prefix, "share", "jupyter"), FORKLAB_KERNEL_NAME: "forklab" },
      timeout: SUITE_DEADLINE_MS,
    });
    return { status: result.status, log: `${result.stdout}\n${result.stderr}` };
  }

  it("passes the official conformance suite, skipping only the pager", () => {
    const { status, log } = unittest("forklab_conformance");
    expect(log).toMatch(/Ran 12 tests/);
    expect(log).toMatch(/OK \(skipped=1\)/);
    expect(log).toMatch(/test_pager .*skipped/);
    expect(status, log).toBe(0);
  }, SUITE_DEADLINE_MS);

  it("interrupts, routes late output, aborts queued cells, drops bad messages, cleans up", () => {
    const { status, log } = unittest("forklab_protocol");
    expect(log).toMatch(/Ran 14 tests/);
    expect(log).not.toMatch(/skipped/);
    expect(status, log).toBe(0);
  }, SUITE_DEADLINE_MS);
});
