export * from "./messages";
export * from "./framing";
export * from "./channel";
export * from "./handles";
export * from "./clone";
export * from "./errors";
