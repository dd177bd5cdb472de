// Tasks for the notebooks' module targets: a module is the place for code that a child should
// run with its own imports and helpers (a function from a cell crosses alone, as source).

/** The tutorial's long_time_task: sleeps up to 3 s and says how long it ran. */
export async function longTimeTask(name: string | number): Promise<number> {
  console.log(`Run task ${name} (${process.pid})...`);
  const start = Date.now();
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 3000));
  const seconds = (Date.now() - start) / 1000;
  console.log(`Task ${name} runs ${seconds.toFixed(2)} seconds.`);
  return seconds;
}

/** The tutorial's run_proc. */
export function runProc(name: string): void {
  console.log(`Run child process ${name} (${process.pid})...`);
}
