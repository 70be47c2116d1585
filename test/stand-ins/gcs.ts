/**
 * Cloud Storage stand-in: the Firebase Storage emulator's server (npm firebase-tools), started in-process.
 *
 * Its CLI launcher needs Java for the security-rules runtime, but the Cloud Storage JSON API it serves
 * (`/storage/v1`, `/upload/storage/v1`, `/download/storage/v1`) is plain JS on express and goes through the
 * admin storage layer, which skips rules. It computes md5Hash and crc32c like GCS, so the client's upload
 * validation is exercised for real. Point `@google-cloud/storage` at it with STORAGE_EMULATOR_HOST or
 * `apiEndpoint`; with a custom endpoint the client sends no auth, so nothing leaves 127.0.0.1.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const base = "firebase-tools/lib/emulator";

interface EmulatorLike {
  args: { port: number };
  reset(): void;
}

export interface GcsStandIn {
  url: string;
  close(): Promise<void>;
  reset(): void;
}

export async function startGcsStandIn(projectId = "stand-in-project"): Promise<GcsStandIn> {
  const { StorageEmulator } = require(`${base}/storage/index.js`) as { StorageEmulator: new (args: Record<string, unknown>) => EmulatorLike };
  const { createApp } = require(`${base}/storage/server.js`) as { createApp: (p: string, e: EmulatorLike) => Promise<{ listen: (port: number, host: string) => Server }> };
  const { EmulatorRegistry } = require(`${base}/registry.js`) as { EmulatorRegistry: { set(name: string, e: EmulatorLike): void; clear(name: string): void } };

  const emulator = new StorageEmulator({ projectId, host: "127.0.0.1", port: 0, rules: [], auto_download: false });
  const app = await createApp(projectId, emulator);
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  // Bucket metadata builds self links from the registry's host and port.
  emulator.args.port = (server.address() as AddressInfo).port;
  EmulatorRegistry.set("storage", emulator);
  return {
    url: `http://127.0.0.1:${emulator.args.port}`,
    reset: () => emulator.reset(),
    close: () =>
      new Promise<void>((resolve) => {
        EmulatorRegistry.clear("storage");
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
