import * as path from "node:path";

export const LIB = path.resolve(__dirname, "../../dist/src/index.js");
