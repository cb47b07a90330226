/**
 * Runs a CommonJS bundle (the daemon side of dist/, see scripts/build.ts) through vm.Script with a V8
 * code cache, so that a start skips parsing and compiling what an earlier start compiled. Node 20 has
 * no module.enableCompileCache (Node 22), and an ES module takes no cachedData without
 * --experimental-vm-modules. The build writes the bundle inside BUNDLE_HEAD and BUNDLE_TAIL, so its
 * text is the script's source as read: wrapped here instead, the source was a concatenation of
 * 2.4 MB that V8 flattened (copied) before using the cache, ~12 ms of every start on this project's VM.
 *
 *   <cacheDir>/<bundle file name>-<checkout>-<V8 version>-<arch>.v8cache
 *     <checkout>: 12 hex digits of the SHA-256 of the bundle's directory (absolute): V8 keeps the
 *     script's file name in its cache, so two checkouts of one build sharing ~/.cache would print
 *     stack traces naming each other's bundle
 *     32 bytes  SHA-256 of the bundle's text (the cache belongs to that text only)
 *     32 bytes  SHA-256 of the V8 data (a damaged file is never handed to V8)
 *     rest      V8 code cache
 *
 * A cache that is missing, unreadable, for another text, damaged or refused by V8 (another V8 build
 * or flags) leaves the bundle compiled from its text, as without a cache; `save()` then writes a new
 * one. The caller calls it once start-up is done, so the functions V8 compiled lazily on the way are
 * in it. A directory that cannot be written is left alone: the next start is as slow as this one.
 * Each build's bundle has a name of its own (a content hash): writing a cache removes all but the
 * KEEP most recently written of its checkout, so ~2 MB per build or upgrade do not pile up. Another
 * checkout's caches are left alone unless not written or used for STALE_MS (a removed checkout);
 * using a cache marks it, at most once a day.
 */
import { createHash } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

/**
 * The bundle is one function expression taking CommonJS's arguments plus `__bundle_import_meta_url`,
 * which the build puts where the sources say import.meta.url. The head has a line of its own.
 */
export const BUNDLE_HEAD =
  "(function (exports, require, module, __filename, __dirname, __bundle_import_meta_url) {";
export const BUNDLE_TAIL = "})";

/** What became of the cache on this run. */
export type CodeCacheState = "used" | "missing" | "other-text" | "damaged" | "rejected";

export interface CachedBundle<T> {
  readonly exports: T;
  readonly cache: CodeCacheState;
  /** Writes the cache unless this run used it; answers whether it wrote one. Never throws. */
  save(): boolean;
}

/** $XDG_CACHE_HOME/sysrq-bridge, else ~/.cache/sysrq-bridge. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
  return path.join(base, "sysrq-bridge");
}

/** Names the caches of bundles in the directory of `bundle`, and no other directory's. */
export function checkoutTag(bundle: string): string {
  return sha256(path.dirname(path.resolve(bundle)))
    .toString("hex")
    .slice(0, 12);
}

export function cacheFileFor(bundle: string, cacheDir: string): string {
  const name = `${path.basename(bundle)}-${checkoutTag(bundle)}-${process.versions.v8}-${process.arch}`;
  return path.join(cacheDir, `${name}.v8cache`);
}

const HASH = 32;
/** Caches kept per checkout: a few builds or installed versions used side by side. */
export const KEEP = 4;
/** Another checkout's cache neither written nor used for this long is removed (its checkout is gone). */
export const STALE_MS = 30 * 86_400_000;
const MARK_USED_AFTER_MS = 86_400_000;

function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

function readCache(file: string, textHash: Buffer): { data?: Buffer; state: CodeCacheState } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return { state: "missing" };
  }
  if (bytes.length <= 2 * HASH) return { state: "damaged" };
  if (!bytes.subarray(0, HASH).equals(textHash)) return { state: "other-text" };
  const data = bytes.subarray(2 * HASH);
  if (!bytes.subarray(HASH, 2 * HASH).equals(sha256(data))) return { state: "damaged" };
  return { data, state: "used" };
}

/**
 * Loads `bundle`, a CommonJS module written inside BUNDLE_HEAD and BUNDLE_TAIL, and runs it with
 * module, exports, require, __filename, __dirname and `__bundle_import_meta_url`.
 */
export function runCachedBundle<T>(bundle: string, cacheDir: string): CachedBundle<T> {
  const bytes = readFileSync(bundle);
  const textHash = sha256(bytes);
  const cacheFile = cacheFileFor(bundle, cacheDir);
  const found = readCache(cacheFile, textHash);
  if (found.state === "used") markUsed(cacheFile);
  const text = bytes.toString("utf8");
  if (!text.startsWith(BUNDLE_HEAD)) throw new Error(`${bundle} does not start with the bundle's wrapper`);
  const script = new vm.Script(text, { filename: bundle, ...(found.data ? { cachedData: found.data } : {}) });
  const cache: CodeCacheState = found.data && script.cachedDataRejected === true ? "rejected" : found.state;
  const module = { exports: {} as T };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(
    module.exports,
    createRequire(bundle),
    module,
    bundle,
    path.dirname(bundle),
    pathToFileURL(bundle).href,
  );
  return {
    exports: module.exports,
    cache,
    save: () =>
      cache !== "used" && writeCache(cacheFile, checkoutTag(bundle), textHash, script.createCachedData()),
  };
}

/** Written whole under a temporary name, then renamed: a reader sees the old file or the new one. */
function writeCache(file: string, tag: string, textHash: Buffer, data: Buffer): boolean {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(temporary, Buffer.concat([textHash, sha256(data), data]));
    renameSync(temporary, file);
    removeOldest(path.dirname(file), tag);
    return true;
  } catch {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // The directory itself is not there or not a directory.
    }
    return false;
  }
}

/** Keeps a cache in use from looking stale to another checkout's removeOldest. */
function markUsed(file: string): void {
  try {
    const now = Date.now();
    if (now - statSync(file).mtimeMs > MARK_USED_AFTER_MS) utimesSync(file, now / 1000, now / 1000);
  } catch {
    // Read-only or removed meanwhile: at worst another checkout removes it and it is written again.
  }
}

/** Of checkout `tag`'s caches, keeps the KEEP newest; of others, removes only the stale. */
function removeOldest(dir: string, tag: string): void {
  try {
    const caches = readdirSync(dir)
      .filter((name) => name.endsWith(".v8cache"))
      .map((name) => ({
        file: path.join(dir, name),
        ours: name.includes(`-${tag}-`),
        mtimeMs: statSync(path.join(dir, name)).mtimeMs,
      }))
      .sort((a, b) => b.mtimeMs - a.mtimeMs);
    const now = Date.now();
    for (const { file } of caches.filter((c) => c.ours).slice(KEEP)) rmSync(file, { force: true });
    for (const { file } of caches.filter((c) => !c.ours && now - c.mtimeMs > STALE_MS)) {
      rmSync(file, { force: true });
    }
  } catch {
    // Another process removed one first: it keeps the directory in check as well.
  }
}
