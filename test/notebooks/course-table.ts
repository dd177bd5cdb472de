/**
 * What the course test checks in each notebook of the course: one row per notebook. A notebook
 * that recreates a section of the tutorial (its Python is in test/notebooks/seed-python.ts) names the section
 * and the lines its program prints; test/notebooks/course.test.ts then checks, for that notebook:
 *
 * - the section's Python, verbatim, in a ```python block of a markdown cell;
 * - what that Python really printed, in a ```text block of a markdown cell: `lines` in order and
 *   `anywhere` in any order, matched line by line;
 * - the notebook's own run through the kernel: the same `lines` in order and `anywhere` lines,
 *   in its outputs (stream text and text/plain);
 *
 * and, for every notebook, that it ends with a summary (a heading with 小结) and two or three
 * exercises (a heading with 练习), each answer in a markdown cell whose input is collapsed
 * (`metadata.jupyter.source_hidden`, as JupyterLab stores it), right after its exercise. A row
 * whose notebook is not in notebooks/ yet, or that is `pending`, is reported as a test to do.
 */
export interface CourseNotebook {
  /** The file in notebooks/. */
  notebook: string;
  /** The seed's section heading (as in the seed: "进程池pool"); none for a notebook of its own. */
  section?: string;
  /** Lines the section's program prints, in the order the seed's program prints them. */
  lines?: RegExp[];
  /** Lines it prints in no fixed order (from other processes, whose turn is not the point). */
  anywhere?: RegExp[];
  /** What the notebook still lacks to be checked: its checks are reported as to do until then. */
  pending?: string;
}

const tasks = (pattern: (i: number) => RegExp) => [0, 1, 2, 3, 4].map(pattern);

export const COURSE: CourseNotebook[] = [
  { notebook: "00-start-here.ipynb" },
  {
    notebook: "01-fork.ipynb",
    section: "fork进程",
    lines: [/^Process \(\d+\) start\.\.\.$/, /^I \(\d+\) just created a child process \(\d+\)\.$/],
    anywhere: [/I am child process \(\d+\) and my parent is \d+\.$/],
  },
  {
    notebook: "02-process.ipynb",
    section: "跨平台multiprocessing",
    lines: [/^Parent process \d+\.$/, /^Child process will start\.$/, /Run child process test \(\d+\)\.\.\.$/, /^Child process end\.$/],
  },
  {
    notebook: "03-pool.ipynb",
    section: "进程池pool",
    lines: [/^Parent process \d+\.$/, /^Waiting for all subprocesses done\.\.\.$/, /^All subprocesses done\.$/],
    anywhere: [...tasks((i) => new RegExp(`Run task ${i} \\(\\d+\\)\\.\\.\\.$`)), ...tasks((i) => new RegExp(`Task ${i} runs \\d+\\.\\d\\d seconds\\.$`))],
  },
  {
    notebook: "04-subprocess.ipynb",
    section: "子进程subprocess",
    // The programs differ (ping and nslookup need the network), the shape does not.
    lines: [/^\$ /, /^Exit code: \d+$/, /^\$ /, /^Server:/, /^Exit code: \d+$/],
  },
  {
    notebook: "05-queue.ipynb",
    section: "进程间通信",
    // Both sides are children: in the kernel their lines come in each process's card, after "  | ".
    lines: [/Process to write: \d+$/, /Put A to queue\.\.\.$/, /Put B to queue\.\.\.$/, /Put C to queue\.\.\.$/],
    anywhere: [/Process to read: \d+$/, /Get A from queue\.$/, /Get B from queue\.$/, /Get C from queue\.$/],
  },
  // The tutorial's distributed chapter is not in the seed: its Python is quoted from the chapter.
  { notebook: "06-distributed.ipynb" },
];
