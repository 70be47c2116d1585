/**
 * `GET /`: the live status wall. Server-rendered HTML (serve/wall/page.ts) with a small script bundled by
 * esbuild from serve/wall/client/ (the same approach as `report`: nothing from a CDN, a CSP that allows
 * only this origin). The script refreshes the page's parts every `--refresh-seconds` from the /api
 * endpoints (serve/api.ts), without reloading.
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { browserBundle } from "../../report/bundle.js";
import type { FastifyInstance } from "fastify";
import type { ServeConfig } from "../config.js";
import { renderWall, wallCsp } from "./page.js";

const clientEntry = fileURLToPath(new URL("./client/main.ts", import.meta.url));

/** The wall's browser script, minified; built once per process. */
export const wallBundle = browserBundle(clientEntry, "status wall");

export function registerWall(app: FastifyInstance, options: { config: ServeConfig; version: string }): void {
  app.get("/", async (_request, reply) => {
    const script = await wallBundle();
    const html = renderWall({ refreshSeconds: options.config.refreshSeconds, version: options.version }, script);
    // The policy also as a header, so it holds from the first byte.
    const csp = wallCsp(createHash("sha256").update(script).digest("base64"));
    return reply.code(200).header("content-type", "text/html; charset=utf-8").header("content-security-policy", csp).header("cache-control", "no-store").send(html);
  });
}
