/**
 * Browser scripts of the self-contained pages (the `report` dashboard, the `serve` status wall): one
 * esbuild bundle per entry, minified, built once per process and inlined by the page, so nothing is
 * fetched from a CDN or another origin.
 */
import { build } from "esbuild";

/** A function returning the bundle of `entry`, built on first use; a failed build is retried next time. */
export function browserBundle(entry: string, what: string): () => Promise<string> {
  let bundled: Promise<string> | undefined;
  return () => {
    bundled ??= build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: "iife",
      platform: "browser",
      target: ["es2020"],
      minify: true,
      legalComments: "eof",
      charset: "utf8",
      logLevel: "silent",
    }).then((result) => {
      const file = result.outputFiles[0];
      if (!file) throw new Error(`esbuild produced no output for the ${what} bundle`);
      return file.text;
    });
    bundled.catch(() => (bundled = undefined));
    return bundled;
  };
}
