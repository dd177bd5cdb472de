/**
 * Where this installation of forklab is, for what lives beside its code: the kernel's command,
 * its logos, the project's Jupyter environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The root of this installation: the nearest folder above this file with forklab's package.json. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, "utf8")).name === "forklab") return dir;
      } catch {
        // not ours; keep climbing
      }
    }
    if (dirname(dir) === dir) throw new Error(`forklab's package.json not found above ${from}`);
  }
}
