/**
 * node:fs's callback calls on a plain file descriptor, as promises: fs/promises offers writev and
 * close only on its FileHandle, and the capture writer keeps descriptors (opened synchronously, see
 * capture-writer.ts). Each call is one hop through libuv's thread pool.
 */
import { close, write, writev } from "node:fs";

export function writeAsync(fd: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => write(fd, bytes, (err) => (err ? reject(err) : resolve())));
}

export function writevAsync(fd: number, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => writev(fd, chunks, (err) => (err ? reject(err) : resolve())));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}
