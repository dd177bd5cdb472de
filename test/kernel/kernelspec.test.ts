import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli, type Io } from "../../kernel/cli";
import { kernelExecutable } from "../../kernel/runner/launch";
import {
  findKernelSpec,
  forklabKernelSpec,
  installKernelSpec,
  isInstalledHere,
  kernelSearchDirs,
  kernelsDir,
  packageRoot,
  userDataDir,
  validateKernelName,
} from "../../kernel/kernelspec";
import { jupyterAvailable, python } from "../support/jupyter";

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = { stdout: "", stderr: "", errIsTTY: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

let temp: string;
beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), "forklab-spec-test-"));
});
afterEach(() => rmSync(temp, { recursive: true, force: true }));

describe("the kernelspec", () => {
  it("starts this installation's bin/forklab.js with this Node", () => {
    const spec = forklabKernelSpec();
    expect(spec.argv[0]).toBe(process.execPath);
    expect(isAbsolute(spec.argv[1])).toBe(true);
    expect(spec.argv[1]).toBe(join(packageRoot(), "bin", "forklab.js"));
    expect(existsSync(spec.argv[1])).toBe(true);
    expect(spec.argv.slice(2)).toEqual(["kernel", "--connection-file", "{connection_file}"]);
    expect(spec).toMatchObject({ display_name: "TypeScript (forklab)", language: "typescript", metadata: {} });
  });

  it("is interrupted by signal on POSIX and by message on Windows", () => {
    expect(forklabKernelSpec(packageRoot(), "linux").interrupt_mode).toBe("signal");
    expect(forklabKernelSpec(packageRoot(), "darwin").interrupt_mode).toBe("signal");
    expect(forklabKernelSpec(packageRoot(), "win32").interrupt_mode).toBe("message");
  });
});

describe("Jupyter's folders", () => {
  it("honours JUPYTER_DATA_DIR everywhere", () => {
    for (const platform of ["linux", "darwin", "win32"] as const) {
      expect(userDataDir({ JUPYTER_DATA_DIR: "/data/j" }, platform, "/home/u")).toBe("/data/j");
    }
  });

  it("uses XDG_DATA_HOME or ~/.local/share on Linux", () => {
    expect(userDataDir({}, "linux", "/home/u")).toBe("/home/u/.local/share/jupyter");
    expect(userDataDir({ XDG_DATA_HOME: "/x" }, "linux", "/home/u")).toBe("/x/jupyter");
  });

  it("uses ~/Library/Jupyter on macOS and %APPDATA%\\jupyter on Windows", () => {
    expect(userDataDir({}, "darwin", "/Users/u")).toBe("/Users/u/Library/Jupyter");
    expect(userDataDir({ APPDATA: "/appdata" }, "win32", "/u")).toBe(join("/appdata", "jupyter"));
  });

  it("installs --sys-prefix into the active environment, and explains when there is none", () => {
    expect(kernelsDir({ kind: "sys-prefix" }, { VIRTUAL_ENV: "/venv" })).toBe("/venv/share/jupyter/kernels");
    expect(kernelsDir({ kind: "sys-prefix" }, { CONDA_PREFIX: "/conda" })).toBe("/conda/share/jupyter/kernels");
    expect(() => kernelsDir({ kind: "sys-prefix" }, {})).toThrow(/CONDA_PREFIX nor VIRTUAL_ENV.*--prefix/s);
  });

  it("searches JUPYTER_PATH, the user, the environment, then the system, as jupyter_client does", () => {
    const dirs = kernelSearchDirs({ JUPYTER_PATH: "/a:/b", VIRTUAL_ENV: "/venv" }, "linux", "/home/u");
    expect(dirs).toEqual([
      "/a/kernels",
      "/b/kernels",
      "/home/u/.local/share/jupyter/kernels",
      "/venv/share/jupyter/kernels",
      "/usr/local/share/jupyter/kernels",
      "/usr/share/jupyter/kernels",
      "/home/u/.ipython/kernels",
    ]);
  });

  it("with no environment active, searches the project's own (forklab setup's .venv) in its place", () => {
    const dirs = kernelSearchDirs({}, "linux", "/home/u", "/proj/.venv");
    expect(dirs).toEqual([
      "/home/u/.local/share/jupyter/kernels",
      "/proj/.venv/share/jupyter/kernels",
      "/usr/local/share/jupyter/kernels",
      "/usr/share/jupyter/kernels",
      "/home/u/.ipython/kernels",
    ]);
    expect(kernelSearchDirs({ VIRTUAL_ENV: "/venv" }, "linux", "/home/u", "/proj/.venv")).not.toContain("/proj/.venv/share/jupyter/kernels");
  });

  it("starts a spec's \"python\" with the Python of the environment the spec is in, as jupyter_client uses its own", () => {
    const spec = join(temp, "share", "jupyter", "kernels", "python3");
    mkdirSync(spec, { recursive: true });
    expect(kernelExecutable("python", spec, "linux")).toBe("python");
    mkdirSync(join(temp, "bin"));
    writeFileSync(join(temp, "bin", "python"), "");
    expect(kernelExecutable("python", spec, "linux")).toBe(join(temp, "bin", "python"));
    expect(kernelExecutable("python3.11", spec, "linux")).toBe(join(temp, "bin", "python"));
    expect(kernelExecutable("/usr/bin/python3", spec, "linux")).toBe("/usr/bin/python3");
    expect(kernelExecutable("node", spec, "linux")).toBe("node");
    // A spec that is not in an environment's share/jupyter/kernels keeps its command.
    expect(kernelExecutable("python", join(temp, "elsewhere", "python3"), "linux")).toBe("python");
  });

  it("accepts kernel names Jupyter accepts, lowercased", () => {
    expect(validateKernelName("ForkLab-2.x_y")).toBe("forklab-2.x_y");
    expect(() => validateKernelName("bad name")).toThrow(/invalid kernel name "bad name"/);
    expect(() => validateKernelName("../up")).toThrow(/invalid kernel name/);
  });
});

describe("forklab install / uninstall", () => {
  it("writes kernel.json and the logos into --prefix DIR, and removes them", async () => {
    const io = captureIo();
    expect(await cli(["install", "--prefix", temp], io)).toBe(0);
    const dir = join(temp, "share", "jupyter", "kernels", "forklab");
    expect(io.stdout).toContain(dir);
    expect(JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8"))).toEqual(forklabKernelSpec());
    for (const logo of ["logo-32x32.png", "logo-64x64.png", "logo.svg"]) expect(existsSync(join(dir, logo))).toBe(true);
    expect(readFileSync(join(dir, "logo-64x64.png")).subarray(1, 4).toString()).toBe("PNG");

    expect(await cli(["uninstall", "--prefix", temp], io)).toBe(0);
    expect(existsSync(dir)).toBe(false);
    const again = captureIo();
    expect(await cli(["uninstall", "--prefix", temp], again)).toBe(1);
    expect(again.stderr).toMatch(/no kernelspec "forklab" to remove/);
  });

  it("installs for the user under JUPYTER_DATA_DIR, with --name", () => {
    const env = { JUPYTER_DATA_DIR: temp };
    const dir = installKernelSpec({ name: "forklab-dev", env });
    expect(dir).toBe(join(temp, "kernels", "forklab-dev"));
    expect(findKernelSpec("forklab-dev", { JUPYTER_DATA_DIR: temp }).spec.display_name).toBe("TypeScript (forklab)");
  });

  it("knows whether the user kernelspec points at this installation", () => {
    const env = { JUPYTER_DATA_DIR: temp };
    expect(isInstalledHere("forklab", packageRoot(), env)).toBe(false);
    installKernelSpec({ env, root: join(temp, "elsewhere") });
    expect(isInstalledHere("forklab", packageRoot(), env)).toBe(false);
    installKernelSpec({ env });
    expect(isInstalledHere("forklab", packageRoot(), env)).toBe(true);
  });

  it("rejects bad flags with exit code 2, naming the value and the valid ones", async () => {
    const io = captureIo();
    expect(await cli(["install", "--global"], io)).toBe(2);
    expect(io.stderr).toContain(`unknown option "--global"`);
    expect(io.stderr).toContain("--user, --sys-prefix, --prefix, --name");
    expect(await cli(["install", "--user", "--prefix", temp], io)).toBe(2);
    expect(io.stderr).toMatch(/choose one of --user, --sys-prefix and --prefix/);
    expect(await cli(["install", "--prefix"], io)).toBe(2);
    expect(io.stderr).toMatch(/--prefix .* needs a value/);
    expect(await cli(["instal"], io)).toBe(2);
    expect(io.stderr).toMatch(/unknown command "instal"; valid commands: install, uninstall, kernel, run, setup, start, worker, help/);
  });

  it("prints usage for --help", async () => {
    const io = captureIo();
    expect(await cli(["--help"], io)).toBe(0);
    expect(io.stdout).toMatch(/forklab install/);
    expect(io.stdout).toMatch(/forklab run/);
    expect(await cli([], io)).toBe(2);
  });
});

describe.skipIf(!jupyterAvailable("kernelspec tests against jupyter_client"))("jupyter_client finds the installed kernelspec", () => {
  const inspect = `
import json
from jupyter_client.kernelspec import KernelSpecManager
ksm = KernelSpecManager()
spec = ksm.get_kernel_spec("forklab")
print(json.dumps({"dir": spec.resource_dir, "argv": spec.argv, "display_name": spec.display_name,
  "language": spec.language, "interrupt_mode": spec.interrupt_mode, "all": sorted(ksm.find_kernel_specs())}))
`;

  it("from --prefix DIR, with JUPYTER_PATH=DIR/share/jupyter", async () => {
    expect(await cli(["install", "--prefix", temp], captureIo())).toBe(0);
    const found = JSON.parse(python(inspect, { env: { JUPYTER_PATH: join(temp, "share", "jupyter"), JUPYTER_DATA_DIR: join(temp, "empty") } }));
    expect(found.dir).toBe(join(temp, "share", "jupyter", "kernels", "forklab"));
    expect(found.argv).toEqual(forklabKernelSpec().argv);
    expect(found).toMatchObject({ display_name: "TypeScript (forklab)", language: "typescript", interrupt_mode: "signal" });
    expect(found.all).toContain("python3");
  });

  it("from --user, with JUPYTER_DATA_DIR", async () => {
    const env = { JUPYTER_DATA_DIR: temp };
    const previous = process.env.JUPYTER_DATA_DIR;
    process.env.JUPYTER_DATA_DIR = temp;
    try {
      expect(await cli(["install", "--user"], captureIo())).toBe(0);
    } finally {
      if (previous === undefined) delete process.env.JUPYTER_DATA_DIR;
      else process.env.JUPYTER_DATA_DIR = previous;
    }
    expect(JSON.parse(python(inspect, { env })).dir).toBe(join(temp, "kernels", "forklab"));
  });

  it("and our lookup agrees with jupyter_client on where python3 is", () => {
    const [theirs, venv] = python(
      `import sys; from jupyter_client.kernelspec import KernelSpecManager as K; print(K().get_kernel_spec("python3").resource_dir); print(sys.prefix if sys.prefix != sys.base_prefix else "")`,
    ).split("\n");
    // Jupyter in a virtual environment also looks in that environment, as forklab does once it is
    // activated (VIRTUAL_ENV set).
    const env = venv ? { ...process.env, VIRTUAL_ENV: venv } : process.env;
    expect(findKernelSpec("python3", env).resourceDir).toBe(theirs);
  });
});
