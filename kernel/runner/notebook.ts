/**
 * Notebooks in nbformat 4: read and validate a file, fill in what 4.5 requires (cell ids), and
 * write it back the way nbformat does (sorted keys, one-space indent, multiline strings as lists
 * of lines), so that a notebook run by forklab diffs cleanly against one saved by Jupyter.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { basename, dirname } from "node:path";

export type MultilineString = string | string[];
export type MimeBundle = Record<string, unknown>;

export type Output =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: string }
  | { output_type: "display_data"; data: MimeBundle; metadata: Record<string, unknown> }
  | { output_type: "execute_result"; execution_count: number | null; data: MimeBundle; metadata: Record<string, unknown> }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface CodeCell {
  cell_type: "code";
  id: string;
  source: string;
  metadata: Record<string, unknown>;
  execution_count: number | null;
  outputs: Output[];
  [key: string]: unknown;
}

export interface OtherCell {
  cell_type: "markdown" | "raw";
  id: string;
  source: string;
  metadata: Record<string, unknown>;
  [key: string]: unknown;
}

export type Cell = CodeCell | OtherCell;

export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** What to do about a file that is not a notebook of the shape forklab runs. */
const REPAIR =
  "Open it in JupyterLab and save it again (that writes every field nbformat 4 requires), or fix that part by hand.";

/** The file is not a notebook forklab can run; the message names the file, what is wrong and what to do. */
export class InvalidNotebookError extends Error {
  override name = "InvalidNotebookError";
  constructor(
    readonly file: string,
    readonly problem: string,
    advice = REPAIR,
  ) {
    super(`${file} is not a valid notebook: ${problem}.\n${advice}`);
  }
}

/**
 * Where in `text` the JSON parser gave up, as "line L, column C". V8 names a position for some
 * errors only ("Unexpected token" quotes an excerpt instead), so the place is found as the
 * shortest start of the text whose parse fails at something other than running out of input.
 */
function jsonErrorPlace(text: string): string {
  const failsInside = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (error) {
      const message = (error as Error).message;
      const at = /at position (\d+)/.exec(message);
      if (at) return Number(at[1]) < length;
      return !/Unexpected end of JSON input|Unterminated string/.test(message);
    }
  };
  let low = 1;
  let high = text.length;
  if (!failsInside(high)) return `the file ends too early, at ${placeOf(text, text.length)}`;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (failsInside(middle)) high = middle;
    else low = middle + 1;
  }
  return placeOf(text, low - 1);
}

function placeOf(text: string, position: number): string {
  const before = text.slice(0, position).split("\n");
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (err.code === "ENOENT") throw new InvalidNotebookError(file, "no such file", "Check the path (it is relative to the current directory).");
    throw new InvalidNotebookError(file, `cannot read it (${err.message})`, "Check that it is a file you may read.");
  }
  return parseNotebook(text, file);
}

export function parseNotebook(text: string, file = "<notebook>"): Notebook {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the place for some errors; the line and column say it shorter.
    const message = (error as Error).message.replace(/, [\s\S]* is not valid JSON$/, "");
    throw new InvalidNotebookError(
      file,
      `not JSON (${message}; ${jsonErrorPlace(text)})`,
      "A notebook is a JSON file: fix the JSON there, or save the notebook again from JupyterLab.",
    );
  }
  return validateNotebook(json, file);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isMultiline = (v: unknown): v is MultilineString =>
  typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"));
const joinLines = (v: MultilineString): string => (Array.isArray(v) ? v.join("") : v);

/** Check the structure the runner relies on, and return a copy with multiline strings joined. */
export function validateNotebook(json: unknown, file = "<notebook>"): Notebook {
  const fail = (problem: string): never => {
    throw new InvalidNotebookError(file, problem);
  };
  if (!isObject(json)) return fail(`expected a JSON object, found ${Array.isArray(json) ? "an array" : typeof json}`);
  if (!("nbformat" in json)) fail(`no "nbformat" field`);
  if (json.nbformat !== 4) {
    throw new InvalidNotebookError(
      file,
      `nbformat ${JSON.stringify(json.nbformat)} is not supported; forklab runs nbformat 4`,
      typeof json.nbformat === "number" && json.nbformat < 4
        ? `Convert it first: jupyter nbconvert --to notebook --nbformat 4 ${file}`
        : REPAIR,
    );
  }
  const minor = json.nbformat_minor ?? 0;
  if (typeof minor !== "number" || !Number.isInteger(minor) || minor < 0) fail(`"nbformat_minor" is not a whole number`);
  if (json.metadata !== undefined && !isObject(json.metadata)) fail(`"metadata" is not an object`);
  if (!("cells" in json)) fail(`no "cells" list`);
  if (!Array.isArray(json.cells)) fail(`"cells" is not a list`);
  const cells = (json.cells as unknown[]).map((raw, index): Cell => {
    const where = `cell ${index + 1}`;
    if (!isObject(raw)) return fail(`${where} is not an object`);
    const type = raw.cell_type;
    if (type !== "code" && type !== "markdown" && type !== "raw") {
      return fail(`${where} has cell_type ${JSON.stringify(type)}; expected "code", "markdown" or "raw"`);
    }
    if (!isMultiline(raw.source)) fail(`${where} has no "source" string or list of strings`);
    if (raw.metadata !== undefined && !isObject(raw.metadata)) fail(`${where} has a "metadata" that is not an object`);
    if (raw.id !== undefined && typeof raw.id !== "string") fail(`${where} has an "id" that is not a string`);
    const base = { ...raw, source: joinLines(raw.source as MultilineString), metadata: (raw.metadata ?? {}) as Record<string, unknown> };
    if (type !== "code") return base as OtherCell;
    if (raw.outputs !== undefined && !Array.isArray(raw.outputs)) fail(`${where} has "outputs" that is not a list`);
    const outputs = ((raw.outputs ?? []) as unknown[]).map((o, j) => readOutput(o, `${where}, output ${j + 1}`, fail));
    const count = raw.execution_count ?? null;
    if (count !== null && typeof count !== "number") fail(`${where} has an "execution_count" that is not a number or null`);
    return { ...base, cell_type: "code", outputs, execution_count: count } as CodeCell;
  });
  return {
    ...json,
    nbformat: 4,
    nbformat_minor: minor as number,
    metadata: (json.metadata ?? {}) as Record<string, unknown>,
    cells,
  };
}

function readOutput(raw: unknown, where: string, fail: (problem: string) => never): Output {
  if (!isObject(raw)) return fail(`${where} is not an object`);
  switch (raw.output_type) {
    case "stream":
      if (!isMultiline(raw.text)) fail(`${where} is a stream without "text"`);
      return { ...raw, text: joinLines(raw.text as MultilineString) } as Output;
    case "display_data":
    case "execute_result":
      if (!isObject(raw.data)) fail(`${where} has no "data" object`);
      return { ...raw, data: joinBundle(raw.data as MimeBundle), metadata: (raw.metadata ?? {}) as Record<string, unknown> } as Output;
    case "error":
      return raw as Output;
    default:
      return fail(`${where} has output_type ${JSON.stringify(raw.output_type)}`);
  }
}

function isJsonMime(mime: string): boolean {
  return mime === "application/json" || /^application\/.+\+json$/.test(mime);
}

function joinBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, value] of Object.entries(data)) out[mime] = !isJsonMime(mime) && isMultiline(value) ? joinLines(value) : value;
  return out;
}

const CELL_ID = /^[a-zA-Z0-9-_]{1,64}$/;

export function newCellId(): string {
  return randomBytes(4).toString("hex");
}

/** Make the notebook valid nbformat 4.5: every cell gets a unique, well-formed id. */
export function normalizeNotebook(notebook: Notebook): Notebook {
  const seen = new Set<string>();
  for (const cell of notebook.cells) {
    let id = typeof cell.id === "string" && CELL_ID.test(cell.id) && !seen.has(cell.id) ? cell.id : newCellId();
    while (seen.has(id)) id = newCellId();
    cell.id = id;
    seen.add(id);
  }
  notebook.nbformat_minor = Math.max(notebook.nbformat_minor, 5);
  return notebook;
}

/** Split text into lines that keep their "\n", as nbformat stores multiline strings. */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out;
}

function splitBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, value] of Object.entries(data)) {
    const splittable = !isJsonMime(mime) && (mime.startsWith("text/") || mime === "image/svg+xml" || mime === "application/javascript");
    out[mime] = splittable && typeof value === "string" ? splitLines(value) : value;
  }
  return out;
}

/** The file's text, as nbformat.writes() would produce it. */
export function serializeNotebook(notebook: Notebook): string {
  const cells = notebook.cells.map((cell) => {
    const out: Record<string, unknown> = { ...cell, source: splitLines(cell.source) };
    if (cell.cell_type === "code") {
      out.outputs = cell.outputs.map((o) => {
        if (o.output_type === "stream") return { ...o, text: splitLines(o.text) };
        if (o.output_type === "display_data" || o.output_type === "execute_result") return { ...o, data: splitBundle(o.data) };
        return o;
      });
    }
    return out;
  });
  return JSON.stringify(sortKeys({ ...notebook, cells }), null, 1) + "\n";
}

export function writeNotebook(file: string, notebook: Notebook): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, serializeNotebook(notebook));
}

/** "lesson.ipynb" -> "lesson". */
export function notebookStem(file: string): string {
  return basename(file).replace(/\.ipynb$/i, "");
}
