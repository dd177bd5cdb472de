export { display, clearOutput, onInterrupt, onShutdown, isInKernel } from "./render/display";
export type { MimeBundle, DisplayOptions } from "./render/display";
export * from "./parent/subprocess";
export { renderTerminal } from "./render/terminal";
export type { TerminalView, TerminalChunk } from "./render/terminal";
