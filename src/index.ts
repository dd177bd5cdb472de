export { display, clearOutput, onInterrupt, onShutdown, isInKernel } from "./render/display";
export type { MimeBundle, DisplayOptions } from "./render/display";
