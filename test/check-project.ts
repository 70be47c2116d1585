/** Temporary copies of the Dataform project, so tests can break or extend models without touching definitions/. */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../transform/compile.js";

export interface ProjectCopy {
  dir: string;
  write(path: string, text: string): void;
  remove(): void;
}

export function copyProject(): ProjectCopy {
  const dir = mkdtempSync(join(tmpdir(), "dataform-copy-"));
  for (const p of ["definitions", "includes", "dataform.json", "package.json"]) cpSync(join(projectRoot, p), join(dir, p), { recursive: true });
  // Dataform's sandbox refuses modules outside the project, so @dataform/core is copied, not linked.
  cpSync(join(projectRoot, "node_modules", "@dataform", "core"), join(dir, "node_modules", "@dataform", "core"), { recursive: true, dereference: true });
  mkdirSync(join(dir, "node_modules", ".bin"), { recursive: true });
  symlinkSync(join(projectRoot, "node_modules", "@dataform", "cli", "bundle.js"), join(dir, "node_modules", ".bin", "dataform"));
  return {
    dir,
    write(path, text) {
      writeFileSync(join(dir, path), text);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
