/**
 * node:fs's callback calls on a plain file descriptor, as promises: fs/promises offers writev and
 * close only on its FileHandle, and the capture writer keeps descriptors (opened synchronously, see
 * capture-writer.ts). Each call is one hop through libuv's thread pool.
 *
 * The capture's writes are whole or nothing: a write the disk cut short (ENOSPC after part of it) is
 * finished or fails with the error the rest hits, and the caller truncates the file back, so no
 * record is ever torn and no raw byte lands at a position that does not match its offset.
 */
import { close, closeSync, ftruncateSync, openSync, write, writeSync, writev, writevSync } from "node:fs";

export function writeAsync(fd: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => write(fd, bytes, (err, n) => (err ? reject(err) : resolve(n))));
}

export function writevAsync(fd: number, chunks: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => writev(fd, chunks, (err, n) => (err ? reject(err) : resolve(n))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}

/** Writes all of `chunks` (`length` bytes together), synchronously when `sync`; throws what stops it. */
export async function writeWhole(fd: number, chunks: Buffer[], length: number, sync: boolean): Promise<void> {
  const written = sync ? writevSync(fd, chunks) : await writevAsync(fd, chunks);
  if (written === length) return;
  // Cut short (rare: the disk filled mid-write): the rest, once more, to learn the error that stops it.
  const rest = Buffer.concat(chunks).subarray(written);
  for (let at = 0; at < rest.length;) {
    const n = writeSync(fd, rest, at);
    if (n === 0) throw Object.assign(new Error("no space left on device (short write)"), { code: "ENOSPC" });
    at += n;
  }
}

/** Truncates back to `size` what a failed write left; false if even that failed (read-only now). */
export function truncateBack(fd: number, size: number): boolean {
  if (fd < 0) return true;
  try {
    ftruncateSync(fd, size);
    return true;
  } catch {
    return false;
  }
}

/** `read(fd)` on `file` opened read-only, closed after; null when the file cannot be opened. */
export function withFileForReading<T>(file: string, read: (fd: number) => T): T | null {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return null;
  }
  try {
    return read(fd);
  } finally {
    closeSync(fd);
  }
}
