/**
 * UUCP lock files, the convention minicom, picocom, screen and ser2net use to keep off a tty another
 * program holds: `LCK..<device name>` in /var/lock, holding the owner's pid in HDB format (ten
 * characters right-aligned and a newline). serialport's flock() is invisible to them, so the daemon
 * takes this lock too, and shows a device held by another program with that program's pid.
 *
 *   write .LCK..ttyS0.<pid>.<nonce> ─> link() to LCK..ttyS0 (atomic: fails if it exists)
 *        └─ EEXIST: read the holder's pid ─> ours: keep it │ alive: DeviceLockedError │ gone: unlink, retry
 *
 * The device name is the path below /dev with "/" turned into "_" (/dev/ttyS0 → LCK..ttyS0,
 * /dev/pts/3 → LCK..pts_3; outside /dev the last path component): what minicom, picocom and ser2net
 * do. (lockdev 1.0.4 turns "/" into ":" instead; for devices directly under /dev all agree.)
 * A directory that does not exist or cannot be written is not fatal: the caller opens the device
 * without a lock, told so by the `skipped` reason.
 */
import { randomBytes } from "node:crypto";
import { link, readFile, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { TransportOpenError } from "./transport.js";

/** Another program that holds a device: its pid and, where /proc tells, its command name. */
export interface DeviceHolder {
  readonly pid: number;
  readonly command?: string;
}

export interface UucpLock {
  readonly file: string;
  /** The pid of a dead owner whose lock was removed to take this one. */
  readonly replacedStalePid?: number;
  /** Removes the lock file if it still names our pid; a lock we found already ours is left alone. */
  release(): Promise<void>;
}

export interface LockSkipped {
  readonly skipped: string;
}

/** The device is held by another live process (its pid is in the lock file). */
export class DeviceLockedError extends TransportOpenError {
  constructor(
    readonly device: string,
    readonly holder: DeviceHolder,
  ) {
    const who = `pid ${holder.pid}${holder.command ? ` (${holder.command})` : ""}`;
    super("LOCKED", `${device} is in use by ${who}`);
    this.name = "DeviceLockedError";
  }
}

/** A lock file that cannot be parsed is left alone this long: its owner may still be writing it. */
const UNREADABLE_GRACE_MS = 10_000;

export function lockFileName(device: string): string {
  const name = device.startsWith("/dev/") ? device.slice("/dev/".length) : path.basename(device);
  return `LCK..${name.replaceAll("/", "_")}`;
}

export function hdbLockContent(pid: number): string {
  return `${String(pid).padStart(10, " ")}\n`;
}

/** The pid in an HDB (ASCII) or old binary (4-byte native-endian) lock file; null if unreadable. */
export function parseLockPid(content: Buffer): number | null {
  const text = content.toString("latin1").trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (content.length === 4) {
    const pid = content.readInt32LE(0);
    return pid > 0 ? pid : null;
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

async function commandOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/comm`, "utf8")).trim() || undefined;
  } catch {
    return undefined;
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? "error";
}

type Inspection = { readonly kind: "gone" } | { readonly kind: "held"; readonly pid: number } | Stale;
type Stale = { readonly kind: "stale"; readonly pid?: number };

/** What an existing lock file says: held by a live pid (or by us), stale, or already gone. */
async function inspect(file: string, ownPid: number): Promise<Inspection> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return { kind: "gone" };
    throw new TransportOpenError("EACCES", `cannot read lock file ${file}: ${errnoOf(err)}`);
  }
  const pid = parseLockPid(content);
  if (pid !== null) return pid === ownPid || alive(pid) ? { kind: "held", pid } : { kind: "stale", pid };
  const age = await stat(file).then(
    (s) => Date.now() - s.mtimeMs,
    () => Infinity,
  );
  if (age < UNREADABLE_GRACE_MS) {
    throw new TransportOpenError("EBUSY", `lock file ${file} is being written by another program`);
  }
  return { kind: "stale" };
}

/**
 * Takes the lock for `device` in `dir`, or throws DeviceLockedError naming the live holder. Returns
 * `{ skipped }` when the directory cannot hold locks.
 */
export async function acquireUucpLock(
  dir: string,
  device: string,
  pid = process.pid,
): Promise<UucpLock | LockSkipped> {
  const file = path.join(dir, lockFileName(device));
  const temp = path.join(dir, `.${lockFileName(device)}.${pid}.${randomBytes(4).toString("hex")}`);
  try {
    await writeFile(temp, hdbLockContent(pid), { mode: 0o644, flag: "wx" });
  } catch (err) {
    return { skipped: `cannot write lock files in ${dir}: ${errnoOf(err)}` };
  }
  try {
    let stale: Stale | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(temp, file);
        const release = () => releaseIfOurs(file, pid);
        return stale?.pid === undefined ? { file, release } : { file, release, replacedStalePid: stale.pid };
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") return { skipped: `cannot link ${file}: ${errnoOf(err)}` };
      }
      const found = await inspect(file, pid);
      if (found.kind === "held" && found.pid === pid) return { file, release: async () => undefined };
      if (found.kind === "held") {
        const command = await commandOf(found.pid);
        throw new DeviceLockedError(device, command ? { pid: found.pid, command } : { pid: found.pid });
      }
      if (found.kind === "stale") {
        stale = found;
        await unlink(file).catch(() => undefined);
      }
    }
    throw new TransportOpenError("EBUSY", `${file} keeps changing hands, retrying`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function releaseIfOurs(file: string, pid: number): Promise<void> {
  const content = await readFile(file).catch(() => Buffer.alloc(0));
  if (parseLockPid(content) === pid) await unlink(file).catch(() => undefined);
}
