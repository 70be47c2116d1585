/**
 * One writer per DuckDB warehouse. Every job that writes a warehouse (pipeline, extract, load,
 * transform, demo) takes an exclusive lock first, before any GitHub API call, so a second run on the
 * same file stops at once with the holder's name instead of spending the API budget and then failing on
 * DuckDB's own file lock.
 *
 * The lock is a file beside the warehouse, `FILE.lock`, holding JSON: PID, host, start time, command
 * and a random token. It is created atomically and complete: the JSON is written to a private temporary
 * file which is then hard-linked to `FILE.lock` (link(2) fails with EEXIST when the lock exists, like
 * O_EXCL, and a reader never sees a half-written lock). A lock is stale, and taken over, when its holder
 * ran on this host and its PID is dead (or is now another process: the PID's start time in /proc
 * differs, or it is this very process without holding the lock). A lock from another host is never
 * taken over: the message says how to remove it.
 *
 * Why not `proper-lockfile`: its lock is a directory without the holder's identity (the message must
 * name PID, host and start time) and its staleness is an mtime refreshed by a timer, so a long DuckDB
 * call that blocks the event loop past the stale time loses the lock.
 *
 * DuckDB's own "Could not set lock on file" (another program that does not use this lock has the file
 * open: a DuckDB CLI, a notebook) is translated into a message naming the file (`explainDuckDbLock`).
 */
import { randomUUID } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO instant the holder took the lock. */
  started: string;
  /** The command holding it: pipeline, extract, load, transform, demo, doctor. */
  command: string;
  token: string;
  /** Linux: the holder's start time in clock ticks since boot (/proc/PID/stat), to tell a reused PID. */
  procStart?: string;
}

export interface WarehouseLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock file if it is still this lock's (idempotent). */
  release(): void;
}

/** Another run (or an unknown holder) has the warehouse. */
export class WarehouseLockedError extends Error {
  override readonly name = "WarehouseLockedError";
  constructor(
    readonly warehouse: string,
    readonly lockFile: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(lockedMessage(warehouse, lockFile, holder));
  }
}

/** DuckDB refused the file because another program, one that does not take this lock, has it open. */
export class WarehouseInUseError extends Error {
  override readonly name = "WarehouseInUseError";
  constructor(
    readonly warehouse: string,
    readonly duckdbMessage: string,
  ) {
    const held = /Conflicting lock is held in (.+?) \(PID (\d+)\)/.exec(duckdbMessage);
    const who = held ? `${held[1]} (PID ${held[2]})` : "another program";
    super(
      `warehouse ${warehouse} is open in ${who}, which is not an actions-warehouse run: DuckDB lets only one process write a file. Close the warehouse there (a DuckDB CLI, notebook or BI tool) and run again.`,
    );
  }
}

export const lockFileOf = (duckdbPath: string): string => `${duckdbPath}.lock`;

/** Tokens of the locks this process holds now (a lock file naming this PID with another token is stale). */
const heldTokens = new Set<string>();

function procStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime), counted after the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.pid !== "number" || typeof v.host !== "string" || typeof v.started !== "string") return undefined;
    return {
      pid: v.pid,
      host: v.host,
      started: v.started,
      command: typeof v.command === "string" ? v.command : "a run",
      token: typeof v.token === "string" ? v.token : "",
      ...(typeof v.procStart === "string" ? { procStart: v.procStart } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Why a holder's lock is stale, or undefined when the holder may still be running (or cannot be checked from here). */
export function staleReason(holder: LockHolder): string | undefined {
  if (holder.host !== hostname()) return undefined;
  if (holder.pid === process.pid) return heldTokens.has(holder.token) ? undefined : "left by an earlier process with this PID";
  if (!pidAlive(holder.pid)) return `PID ${holder.pid} is not running`;
  const now = holder.procStart === undefined ? undefined : procStartOf(holder.pid);
  if (now !== undefined && now !== holder.procStart) return `PID ${holder.pid} is now another process`;
  return undefined;
}

function describeHolder(holder: LockHolder): string {
  return `${holder.command} (PID ${holder.pid} on ${holder.host}, started ${holder.started})`;
}

function lockedMessage(warehouse: string, lockFile: string, holder: LockHolder | undefined): string {
  if (!holder) {
    return `warehouse ${warehouse} is locked by ${lockFile}, which does not say who holds it: if no other actions-warehouse run uses ${warehouse}, delete ${lockFile} and run again.`;
  }
  const who = describeHolder(holder);
  if (holder.host !== hostname()) {
    return `warehouse ${warehouse} is in use by ${who}. Wait for that run to finish; if it is no longer running on ${holder.host}, delete ${lockFile} and run again.`;
  }
  return `warehouse ${warehouse} is in use by ${who}. Wait for that run to finish (or stop it: kill ${holder.pid}) and run again; runs on one warehouse must not overlap.`;
}

/** The current holder of a warehouse's lock, if any, and whether that lock is stale. */
export function readWarehouseLock(duckdbPath: string): { lockFile: string; holder: LockHolder | undefined; stale?: string } | undefined {
  const lockFile = lockFileOf(duckdbPath);
  let text: string;
  try {
    text = readFileSync(lockFile, "utf8");
  } catch {
    return undefined;
  }
  const holder = parseHolder(text);
  const stale = holder ? staleReason(holder) : undefined;
  return { lockFile, holder, ...(stale ? { stale } : {}) };
}

export interface LockOptions {
  /** Called when a stale lock is taken over (for the log). */
  onTakeover?: (previous: LockHolder, reason: string) => void;
}

/**
 * Takes the warehouse's lock or throws `WarehouseLockedError` naming the holder. Creates the warehouse's
 * folder if missing (the first run creates the warehouse there anyway).
 */
export function acquireWarehouseLock(duckdbPath: string, command: string, options: LockOptions = {}): WarehouseLock {
  const lockFile = lockFileOf(duckdbPath);
  mkdirSync(dirname(lockFile), { recursive: true });
  const procStart = procStartOf(process.pid);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command,
    token: randomUUID(),
    ...(procStart !== undefined ? { procStart } : {}),
  };
  const text = `${JSON.stringify(holder)}\n`;
  const temp = `${lockFile}.${holder.token}.tmp`;
  try {
    writeFileSync(temp, text, { flag: "wx" });
  } catch (error) {
    throw new Error(`cannot lock warehouse ${duckdbPath}: ${(error as Error).message} (its folder must be writable)`);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(temp, lockFile);
        heldTokens.add(holder.token);
        return lockHandle(lockFile, holder, text);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      let current: string;
      try {
        current = readFileSync(lockFile, "utf8");
      } catch {
        continue; // released in between: try again
      }
      const previous = parseHolder(current);
      const reason = previous ? staleReason(previous) : undefined;
      if (!previous || !reason) throw new WarehouseLockedError(duckdbPath, lockFile, previous);
      takeOver(lockFile, current);
      options.onTakeover?.(previous, reason);
    }
    throw new WarehouseLockedError(duckdbPath, lockFile, parseHolder(readFileSafe(lockFile)));
  } finally {
    rmSync(temp, { force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * Removes a stale lock only if it is still the one judged stale: it is moved aside first (atomic) and
 * compared; had another process taken the lock over in between, its fresh lock is put back.
 */
function takeOver(lockFile: string, staleText: string): void {
  const aside = `${lockFile}.stale-${randomUUID()}`;
  try {
    renameSync(lockFile, aside);
  } catch {
    return;
  }
  if (readFileSafe(aside) !== staleText) {
    try {
      linkSync(aside, lockFile);
    } catch {
      // A third run holds it now; the moved lock's owner will find its lock gone on release.
    }
  }
  rmSync(aside, { force: true });
}

function lockHandle(lockFile: string, holder: LockHolder, text: string): WarehouseLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldTokens.delete(holder.token);
    process.removeListener("exit", release);
    if (readFileSafe(lockFile) === text) rmSync(lockFile, { force: true });
  };
  // A run that ends through process.exit still frees the warehouse; a killed one leaves a stale lock
  // that the next run on this host takes over.
  process.on("exit", release);
  return { path: lockFile, holder, release };
}

/** DuckDB's "Could not set lock on file" as a `WarehouseInUseError`; any other error unchanged. */
export function explainDuckDbLock(error: unknown, duckdbPath: string): unknown {
  const message = error instanceof Error ? error.message : String(error);
  return /Could not set lock on file/.test(message) ? new WarehouseInUseError(duckdbPath, message) : error;
}

/**
 * Runs `work` holding the warehouse's lock (taken before `work` starts, so before any API call), and
 * translates DuckDB's file-lock error. A `:memory:` warehouse needs no lock.
 */
export async function withWarehouseLock<T>(duckdbPath: string, command: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lock = duckdbPath === ":memory:" ? undefined : acquireWarehouseLock(duckdbPath, command, options);
  try {
    return await work();
  } catch (error) {
    throw explainDuckDbLock(error, duckdbPath);
  } finally {
    lock?.release();
  }
}
