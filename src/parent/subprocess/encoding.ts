/**
 * Bytes and text. Output is bytes (Buffer) unless the caller asks for text (`text: true` or an
 * `encoding`), as in Python; decoding uses TextDecoder, so every WHATWG label works (utf-8, gbk,
 * gb18030, big5, shift_jis, euc-kr, windows-1252, utf-16le, ...).
 */

/** How undecodable bytes are handled: `"replace"` (U+FFFD, the default) or `"strict"` (throw). */
export type DecodeErrors = "strict" | "replace";

export interface TextMode {
  encoding: string;
  errors: DecodeErrors;
}

/** Whether TextDecoder knows `label`. */
export function isKnownEncoding(label: string): boolean {
  try {
    new TextDecoder(label);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decode a whole output, then translate newlines as Python's text mode does ("\r\n" and "\r"
 * become "\n").
 */
export function decodeOutput(bytes: Uint8Array, mode: TextMode): string {
  const decoder = new TextDecoder(mode.encoding, { fatal: mode.errors === "strict" });
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (error) {
    throw new TypeError(
      `The program's output is not valid ${mode.encoding}; pass the encoding it writes ` +
        `(e.g. encoding: "gbk"), errors: "replace", or no text/encoding to get the bytes`,
      { cause: error },
    );
  }
  return universalNewlines(text);
}

export function universalNewlines(text: string): string {
  return text.indexOf("\r") === -1 ? text : text.replace(/\r\n?/g, "\n");
}

/** Buffer's own encodings, which can also encode a string given as `input`. */
const ENCODABLE: Record<string, BufferEncoding> = {
  "utf-8": "utf8",
  utf8: "utf8",
  "unicode-1-1-utf-8": "utf8",
  "utf-16le": "utf16le",
  "utf-16": "utf16le",
  "iso-8859-1": "latin1",
  latin1: "latin1",
  ascii: "latin1",
  "us-ascii": "latin1",
};

/** Turn `input` into bytes: bytes pass through, strings are encoded with `encoding`. */
export function encodeInput(input: string | Uint8Array, encoding: string | undefined): Uint8Array {
  if (typeof input !== "string") return input;
  const label = (encoding ?? "utf-8").trim().toLowerCase();
  const bufferEncoding = ENCODABLE[label];
  if (!bufferEncoding) {
    throw new TypeError(
      `input is a string and encoding is "${encoding}", which this runtime can decode but not ` +
        `encode; pass input as bytes already encoded (a Buffer or Uint8Array), or use utf-8`,
    );
  }
  return Buffer.from(input, bufferEncoding);
}

/**
 * A streaming decoder for live display: bytes in, text out, multi-byte sequences kept whole;
 * call it without a chunk at the end to flush.
 */
export function streamDecoder(encoding: string | undefined): (chunk?: Uint8Array) => string {
  const decoder = new TextDecoder(encoding ?? "utf-8");
  return (chunk) => (chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true }));
}
