/**
 * The message for a target function that uses names a child will not have (target-check.ts finds
 * them): for each name, what it is and the one fix that works for it. Data is passed as an
 * argument; a function cannot be (the call would fail as "args[0] is a function"), so it is
 * defined inside the target or in a module the target requires; a module is required inside.
 * What a name holds comes from the notebook when the kernel has it (notebook-binding.ts), else
 * from how the source uses it.
 */
import { isBuiltin } from "node:module";
import { moduleGuess, notebookBinding, type Binding } from "./notebook-binding";
import type { FreeName } from "./target-check";

/**
 * Who will call the function, so that the fix the message suggests is one that works there: a
 * Pool's map gives a task only its item, so a value goes with each item (starmap) or by apply.
 */
export type TargetUse = "spawn" | "pool";

/** What the message says a name is: a notebook binding, or what its use in the source suggests. */
type What = Binding | { is: "data or module" };

function whatIs(f: FreeName): What {
  const known = notebookBinding(f.name);
  if (known) return known;
  if (f.constructed) return { is: "class" };
  if (f.called) return { is: "function" };
  if (f.member) return isBuiltin(f.name) && !f.name.startsWith("_") ? { is: "module", specifier: `node:${f.name}` } : { is: "data or module" };
  return { is: "data" };
}

function passIt(name: string, use: TargetUse): string {
  return use === "pool"
    ? `add a parameter and call pool.apply(fn, [${name}]), or give it with each item: pool.starmap(fn, items.map((item) => [item, ${name}]))`
    : `add a parameter and call spawn(fn, [${name}])`;
}

function requireLine(binding: string, specifier: string | undefined): string {
  return specifier ? `${binding} = require("${specifier}")` : `${binding} = require("...") with the path the cell imports it from`;
}

function line(f: FreeName, use: TargetUse): string {
  if (f.kind === "cell-import") {
    // Imported in the target's own cell: the compiled name says which module.
    const compiled = f.usage.split(".")[0]!;
    const binding = f.usage.includes(".") && !f.usage.endsWith(".default") ? `const { ${f.name} }` : `const ${f.name.replace(/_\d+$/, "")}`;
    return `${f.name}: imported by the notebook cell (compiled as ${f.usage}); require it inside the function: ${requireLine(binding, moduleGuess(compiled))}`;
  }
  const cell = f.kind === "cell-variable";
  const what = whatIs(f);
  switch (what.is) {
    case "function":
    case "class":
      return (
        `${f.name}: a ${what.is} ${cell ? "from another notebook cell" : "defined outside the target"}; a ${what.is} cannot be passed ` +
        `as an argument, so define it inside the target function, or in a module file that the target requires ` +
        `(const { ${f.name} } = require("./helpers"))`
      );
    case "module":
      return `${f.name}: ${what.specifier ? `the module "${what.specifier}"` : "a module"}${cell ? " from another notebook cell" : ""}; require it inside the function: ${requireLine(`const ${f.name}`, what.specifier)}`;
    case "import": {
      const binding = what.imported === f.name ? `const { ${f.name} }` : `const { ${what.imported}: ${f.name} }`;
      return `${f.name}: imported by ${cell ? "another notebook cell" : "the notebook cell"} from "${what.specifier}"; require it inside the function: ${requireLine(binding, what.specifier)}`;
    }
    case "data":
    case "data or module": {
      const origin = cell ? "a variable from another notebook cell" : "defined outside the function";
      const data = `${f.name}: ${origin}; pass it as an argument (${passIt(f.name, use)}), or compute it inside the function`;
      // Read a member of and nothing else known: it may be a module (import * as x) as well as data.
      return what.is === "data" ? data : `${data}; if it is a module (import * as ${f.name}), require it inside the function instead`;
    }
  }
}

/** The error for a function whose source uses names the child will not have. */
export function freeNamesMessage(fnName: string, free: FreeName[], use: TargetUse = "spawn"): string {
  const label = fnName ? `The target function ${fnName}()` : "The target function";
  return (
    `${label} uses ${free.length === 1 ? "a name" : "names"} that will not exist in the child process ` +
    `(a child starts empty: only the function's source crosses):\n${free.map((f) => `  - ${line(f, use)}`).join("\n")}\n` +
    `Or move the function and what it uses into a module and ${use === "pool" ? "give the pool" : "spawn it as"} { module: "./tasks.ts", export: "${fnName || "name"}" }.`
  );
}
