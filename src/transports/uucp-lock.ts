/**
 * UUCP lock files, the convention minicom, picocom, screen and lockdev use to keep off a tty another
 * program holds: `LCK..<device name>` in /var/lock, holding the owner's pid in HDB format (ten
 * characters right-aligned and a newline). serialport's flock() is invisible to them, so the daemon
 * takes this lock too, and shows a device held by another program with that program's pid.
 *
 * The device name is the path below /dev with "/" turned into "_" (lockdev's rule: /dev/ttyS0 →
 * LCK..ttyS0, /dev/pts/3 → LCK..pts_3). A lock whose pid no longer exists is stale and is removed. A
 * lock directory that does not exist or cannot be written is not fatal: the port opens without a
 * lock (logged once by the caller through the returned `skipped` reason).
 */
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";

export interface UucpLock {
  readonly file: string;
  release(): Promise<void>;
}

export class DeviceLockedError extends Error {
  readonly code = "LOCKED";
  constructor(
    readonly device: string,
    readonly holderPid: number,
    readonly holderCommand: string | undefined,
  ) {
    super(`${device} is in use by pid ${holderPid}${holderCommand ? ` (${holderCommand})` : ""}`);
    this.name = "DeviceLockedError";
  }
}

export function lockFileName(device: string): string {
  const name = device.startsWith("/dev/") ? device.slice("/dev/".length) : path.basename(device);
  return `LCK..${name.replaceAll("/", "_")}`;
}

export function hdbLockContent(pid: number): string {
  return `${String(pid).padStart(10, " ")}\n`;
}

/** The pid in an HDB (ASCII) or old binary (4-byte little-endian) lock file; null if unreadable. */
export function parseLockPid(content: Buffer): number | null {
  const text = content.toString("latin1").trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (content.length === 4) return content.readInt32LE(0);
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function commandOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/comm`, "utf8")).trim();
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock for `device` in `dir`, or throws DeviceLockedError naming the live holder. Returns
 * `{ skipped }` when the directory cannot hold locks.
 */
export async function acquireUucpLock(
  dir: string,
  device: string,
  pid = process.pid,
): Promise<UucpLock | { readonly skipped: string }> {
  const file = path.join(dir, lockFileName(device));
  const temp = path.join(dir, `.${lockFileName(device)}.${pid}`);
  try {
    await writeFile(temp, hdbLockContent(pid), { mode: 0o644 });
  } catch (err) {
    return {
      skipped: `cannot write lock files in ${dir}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
    };
  }
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temp, file); // atomic: fails if a lock exists
        return { file, release: () => releaseIfOurs(file, pid) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = parseLockPid(await readFile(file).catch(() => Buffer.alloc(0)));
      if (holder === pid) return { file, release: () => releaseIfOurs(file, pid) };
      if (holder !== null && alive(holder))
        throw new DeviceLockedError(device, holder, await commandOf(holder));
      await unlink(file).catch(() => undefined); // stale: its owner is gone
    }
    throw new DeviceLockedError(device, -1, undefined);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function releaseIfOurs(file: string, pid: number): Promise<void> {
  const holder = parseLockPid(await readFile(file).catch(() => Buffer.alloc(0)));
  if (holder === pid) await unlink(file).catch(() => undefined);
}
