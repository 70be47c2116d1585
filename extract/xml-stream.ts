/**
 * Streaming XML for test reports: saxes reads the document chunk by chunk and calls back per element,
 * so a 200 MB JUnit file is never held in memory; only the callbacks' own (bounded) state is.
 *
 * After each chunk the caller's `drain` runs and is awaited: that is where produced rows are written
 * (to the batch writer, whose gzip stream applies backpressure), so parsing never runs ahead of writing
 * by more than one chunk's worth of rows.
 */
import { StringDecoder } from "node:string_decoder";
import { SaxesParser, type SaxesTagPlain } from "saxes";

export interface XmlHandler {
  open(tag: SaxesTagPlain, depth: number): void;
  close(name: string, depth: number): void;
  text(text: string): void;
}

/** A report file that is not well-formed XML, with where the parser stopped. */
export class XmlParseError extends Error {
  override readonly name = "XmlParseError";
}

export async function streamXml(source: AsyncIterable<Buffer | string>, handler: XmlHandler, drain: () => Promise<void> = () => Promise.resolve()): Promise<{ root: string | null; bytes: number }> {
  const parser = new SaxesParser({ xmlns: false, position: true });
  let depth = 0;
  let root: string | null = null;
  let failure: Error | undefined;
  let bytes = 0;
  parser.on("error", (error) => {
    // saxes keeps parsing after an error; the first one decides (its message carries line:column).
    failure ??= error;
  });
  parser.on("opentag", (tag) => {
    if (depth === 0) root = tag.name;
    depth += 1;
    handler.open(tag, depth);
  });
  parser.on("closetag", (tag) => {
    handler.close(tag.name, depth);
    depth -= 1;
  });
  parser.on("text", (t) => handler.text(t));
  parser.on("cdata", (t) => handler.text(t));
  const decoder = new StringDecoder("utf8");
  for await (const chunk of source) {
    bytes += chunk.length;
    parser.write(typeof chunk === "string" ? chunk : decoder.write(chunk));
    if (failure) throw new XmlParseError(`not well-formed XML: ${failure.message}`);
    await drain();
  }
  parser.write(decoder.end());
  parser.close();
  if (failure) throw new XmlParseError(`not well-formed XML: ${failure.message}`);
  if (root === null) throw new XmlParseError("not XML: no root element");
  await drain();
  return { root, bytes };
}

/** Appends to a bounded buffer: texts longer than `max` characters are cut, the rest is never stored. */
export class BoundedText {
  private parts: string[] = [];
  private length = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  add(text: string): void {
    if (this.length >= this.max) {
      if (text.length > 0) this.truncated = true;
      return;
    }
    const room = this.max - this.length;
    const piece = text.length > room ? text.slice(0, room) : text;
    if (piece.length < text.length) this.truncated = true;
    this.parts.push(piece);
    this.length += piece.length;
  }
  value(): string {
    return this.parts.join("");
  }
}

/** A finite number from an attribute, else null (JUnit writers emit "", "NaN" and "1,234.5"). */
export function numberAttr(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value.replaceAll(",", "").trim());
  return value.trim() !== "" && Number.isFinite(n) ? n : null;
}

export function intAttr(value: string | undefined): number | null {
  const n = numberAttr(value);
  return n !== null && Number.isInteger(n) && n >= 0 ? n : null;
}
