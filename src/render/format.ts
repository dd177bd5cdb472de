/** Small pure helpers shared by the renderers. */
import { stripVTControlCharacters } from "node:util";

/**
 * The text without terminal escape sequences: colours, cursor moves, titles, and character-set
 * switches such as ESC(B, which tput sgr0 and ncurses programs emit. Node's own parser, so there
 * is one definition of what an escape sequence is.
 */
export function stripAnsi(text: string): string {
  return text.indexOf("\x1b") === -1 && text.indexOf("\x9b") === -1 ? text : stripVTControlCharacters(text);
}

/** Text for HTML content or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** "0.42 ms", "12 ms", "1.50 s", "12.5 s", "2 min 5 s"; "-" when unknown. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "-";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}
