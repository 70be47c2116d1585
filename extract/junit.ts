/**
 * JUnit XML, read as a stream (extract/xml-stream.ts): one `JUnitCase` per `testcase` element, in
 * document order, whatever the writer (pytest, Surefire, Gradle, Jest, go-junit-report...).
 *
 * Variants covered: a `testsuites` root or a lone `testsuite` root; suites nested in suites (the suite
 * path is joined with " > "); `failure`, `error` and `skipped` children; `time`, `classname`, `file` and
 * `line` attributes (a testcase without `file` takes its nearest suite's); Maven Surefire's
 * `flakyFailure`/`flakyError` (the test failed, then passed on a re-run in the same execution) and
 * `rerunFailure`/`rerunError` (re-runs that failed too); `system-out` kept up to 2,000 characters.
 * Only the bounded state of the current testcase is held, so memory does not grow with the file.
 */
import type { SaxesTagPlain } from "saxes";
import { BoundedText, intAttr, numberAttr, streamXml, type XmlHandler } from "./xml-stream.js";

/** Longest failure message and system-out kept, in characters (the raw-table contract says 2,000). */
export const MAX_TEXT_CHARS = 2000;
/** Child elements kept in a case's payload; more are counted, not listed. */
const MAX_PAYLOAD_CHILDREN = 20;

export type JUnitStatus = "passed" | "failed" | "error" | "skipped";

export interface JUnitCase {
  suite: string | null;
  classname: string | null;
  /** Undefined when the element has no name: the row then fails its schema and is quarantined. */
  name: string | undefined;
  file: string | null;
  line: number | null;
  status: JUnitStatus;
  duration_seconds: number | null;
  flaky_failures: number;
  rerun_failures: number;
  message: string | null;
  system_out: string | null;
  payload: { attributes: Record<string, string>; children: { name: string; attributes: Record<string, string> }[]; children_omitted: number; system_out_truncated: boolean; message_truncated: boolean };
}

export const JUNIT_ROOTS = new Set(["testsuites", "testsuite"]);

const STATUS_OF: Record<string, JUnitStatus> = { failure: "failed", error: "error", skipped: "skipped" };
const FLAKY = new Set(["flakyFailure", "flakyError"]);
const RERUN = new Set(["rerunFailure", "rerunError"]);

interface OpenCase {
  depth: number;
  attrs: Record<string, string>;
  suite: string | null;
  suiteFile: string | null;
  status: JUnitStatus;
  statusDepth: number | null;
  message: string | null;
  messageText: BoundedText | null;
  systemOut: BoundedText | null;
  inSystemOut: boolean;
  flaky: number;
  rerun: number;
  children: { name: string; attributes: Record<string, string> }[];
  omitted: number;
}

/** An `XmlHandler` that calls `emit` for every completed testcase. */
export function junitHandler(emit: (c: JUnitCase) => void): XmlHandler {
  const suites: { name: string | null; file: string | null; depth: number }[] = [];
  let current: OpenCase | null = null;
  const attrsOf = (tag: SaxesTagPlain): Record<string, string> => ({ ...tag.attributes });
  return {
    open(tag, depth) {
      if (current) {
        if (depth === current.depth + 1) {
          const attrs = attrsOf(tag);
          if (current.children.length < MAX_PAYLOAD_CHILDREN) current.children.push({ name: tag.name, attributes: attrs });
          else current.omitted += 1;
          const status = STATUS_OF[tag.name];
          // The first failure/error decides; skipped only when nothing failed.
          if (status && (current.status === "passed" || (current.status === "skipped" && status !== "skipped"))) {
            current.status = status;
            current.statusDepth = depth;
            current.message = attrs.message !== undefined ? attrs.message.slice(0, MAX_TEXT_CHARS) : null;
            current.messageText = attrs.message === undefined ? new BoundedText(MAX_TEXT_CHARS) : null;
          } else if (FLAKY.has(tag.name)) current.flaky += 1;
          else if (RERUN.has(tag.name)) current.rerun += 1;
          else if (tag.name === "system-out") {
            current.systemOut ??= new BoundedText(MAX_TEXT_CHARS);
            current.inSystemOut = true;
          }
        }
        return;
      }
      if (tag.name === "testsuite" || tag.name === "testsuites") {
        const parentFile = suites.length ? suites[suites.length - 1]!.file : null;
        suites.push({ name: tag.name === "testsuite" ? (tag.attributes.name ?? null) : null, file: tag.attributes.file ?? parentFile, depth });
        return;
      }
      if (tag.name === "testcase") {
        const names = suites.map((s) => s.name).filter((n): n is string => n !== null && n !== "");
        current = {
          depth,
          attrs: attrsOf(tag),
          suite: names.length ? names.join(" > ") : null,
          suiteFile: suites.length ? suites[suites.length - 1]!.file : null,
          status: "passed",
          statusDepth: null,
          message: null,
          messageText: null,
          systemOut: null,
          inSystemOut: false,
          flaky: 0,
          rerun: 0,
          children: [],
          omitted: 0,
        };
      }
    },
    text(text) {
      if (!current) return;
      if (current.inSystemOut) current.systemOut?.add(text);
      else if (current.messageText && current.statusDepth !== null) current.messageText.add(text);
    },
    close(name, depth) {
      if (current) {
        if (depth === current.depth + 1) {
          if (name === "system-out") current.inSystemOut = false;
          if (depth === current.statusDepth) current.statusDepth = null;
          return;
        }
        if (depth !== current.depth) return;
        const c = current;
        current = null;
        const text = c.messageText?.value().trim();
        emit({
          suite: c.suite,
          classname: c.attrs.classname ?? null,
          name: c.attrs.name,
          file: c.attrs.file ?? c.suiteFile,
          line: intAttr(c.attrs.line),
          status: c.status,
          duration_seconds: numberAttr(c.attrs.time),
          flaky_failures: c.flaky,
          rerun_failures: c.rerun,
          message: c.message ?? (text ? text : null),
          system_out: c.systemOut ? c.systemOut.value() : null,
          payload: {
            attributes: c.attrs,
            children: c.children,
            children_omitted: c.omitted,
            system_out_truncated: c.systemOut?.truncated ?? false,
            message_truncated: c.messageText?.truncated ?? false,
          },
        });
        return;
      }
      const top = suites[suites.length - 1];
      if (top && top.depth === depth) suites.pop();
    },
  };
}

/**
 * Parses a JUnit document, calling `onCase` for each testcase (awaited in batches after each chunk, so a
 * slow writer slows the parser instead of filling memory). Returns the root element's name.
 */
export async function parseJUnit(source: AsyncIterable<Buffer | string>, onCase: (c: JUnitCase) => Promise<void> | void): Promise<{ root: string | null; cases: number; bytes: number }> {
  let pending: JUnitCase[] = [];
  let cases = 0;
  const drain = async () => {
    const batch = pending;
    pending = [];
    for (const c of batch) await onCase(c);
  };
  const result = await streamXml(source, junitHandler((c) => {
    cases += 1;
    pending.push(c);
  }), drain);
  return { root: result.root, cases, bytes: result.bytes };
}
