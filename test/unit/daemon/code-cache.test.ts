/** The V8 code cache dist/main.js runs the daemon's bundle through: what it does when the cache is not right. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import vm from "node:vm";
import { describe, it } from "node:test";
import {
  BUNDLE_HEAD,
  BUNDLE_TAIL,
  KEEP,
  STALE_MS,
  cacheFileFor,
  defaultCacheDir,
  runCachedBundle,
} from "../../../src/daemon/code-cache.js";

const execFileAsync = promisify(execFile);

interface Exports {
  answer: number;
  url: string;
  join: string;
}

/**
 * A CommonJS bundle as the build writes one, with a function V8 compiles lazily. Each test has its
 * own text: V8 keeps what this process compiled, and a text it compiled before never gets as far as
 * the cache.
 */
const bundleText = (test: string) => `${BUNDLE_HEAD}
"use strict"; // ${test}
function lazy(n) { return n * 6; }
exports.answer = lazy(7);
exports.url = __bundle_import_meta_url;
exports.join = require("node:path").join("a", "b");
${BUNDLE_TAIL}
`;

async function bundleIn(dir: string, text: string): Promise<string> {
  const file = path.join(dir, "serve-ABC.cjs");
  await writeFile(file, text);
  return file;
}

function run(file: string, cacheDir: string) {
  const side = runCachedBundle<Exports>(file, cacheDir);
  assert.deepEqual(side.exports, { answer: 42, url: pathToFileURL(file).href, join: path.join("a", "b") });
  return side;
}

describe("code cache", () => {
  it("is written when missing, then used, and not rewritten while it is right", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("written");
    const file = await bundleIn(dir, text);
    const cacheDir = path.join(dir, "cache", "sysrq-bridge");
    const first = run(file, cacheDir);
    assert.equal(first.cache, "missing");
    assert.equal(first.save(), true);
    const cacheFile = cacheFileFor(file, cacheDir);
    const written = await stat(cacheFile);
    const second = run(file, cacheDir);
    assert.equal(second.cache, "used");
    assert.equal(second.save(), false);
    assert.equal((await stat(cacheFile)).mtimeMs, written.mtimeMs);
  });

  it("compiles from the text, and writes a new cache, when the bundle's text changed", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("changed");
    const file = await bundleIn(dir, text);
    const cacheDir = path.join(dir, "cache");
    run(file, cacheDir).save();
    // Same length and name: only the hash in the cache's header tells them apart.
    await bundleIn(dir, text.replace("n * 6", "6 * n"));
    const changed = run(file, cacheDir);
    assert.equal(changed.cache, "other-text");
    assert.equal(changed.save(), true);
    assert.equal(run(file, cacheDir).cache, "used");
  });

  it("never hands damaged V8 data to V8", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("damaged");
    const file = await bundleIn(dir, text);
    const cacheDir = path.join(dir, "cache");
    run(file, cacheDir).save();
    const cacheFile = cacheFileFor(file, cacheDir);
    const bytes = await readFile(cacheFile);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5);
    await writeFile(cacheFile, bytes);
    const damaged = run(file, cacheDir);
    assert.equal(damaged.cache, "damaged");
    assert.equal(damaged.save(), true);
    assert.equal(run(file, cacheDir).cache, "used");
    await writeFile(cacheFile, bytes.subarray(0, 40));
    assert.equal(run(file, cacheDir).cache, "damaged");
  });

  it("compiles from the text when V8 refuses the cache (another V8 build, other flags)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("refused");
    const file = await bundleIn(dir, text);
    const cacheDir = path.join(dir, "cache");
    // A well-formed file for this text whose V8 data V8 made for another script.
    const data = new vm.Script("exports.answer = 42;").createCachedData();
    const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();
    await mkdir(cacheDir);
    await writeFile(
      cacheFileFor(file, cacheDir),
      Buffer.concat([sha256(Buffer.from(text)), sha256(data), data]),
    );
    const refused = run(file, cacheDir);
    assert.equal(refused.cache, "rejected");
    assert.equal(refused.save(), true);
    assert.equal(run(file, cacheDir).cache, "used");
  });

  it("runs without a cache where none can be written", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("unwritable");
    const file = await bundleIn(dir, text);
    // Not a directory, whoever runs the test (root writes into read-only directories).
    const cacheDir = path.join(file, "cache");
    const side = run(file, cacheDir);
    assert.equal(side.cache, "missing");
    assert.equal(side.save(), false);
    assert.equal(run(file, cacheDir).cache, "missing");
  });

  it("keeps its checkout's KEEP most recently written caches; another checkout's only go when stale", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = bundleText("kept");
    const file = await bundleIn(dir, text);
    const cacheDir = path.join(dir, "cache");
    await mkdir(cacheDir);
    const ages = async (name: string, days: number) => {
      const when = new Date(Date.now() - days * 86_400_000);
      await utimes(path.join(cacheDir, name), when, when);
    };
    // This checkout's earlier builds, written one day apart; another checkout's, older still, one of
    // them unused for longer than STALE_MS; and a file that is not a cache.
    const earlier = Array.from({ length: KEEP + 1 }, (_, i) =>
      path.basename(cacheFileFor(path.join(dir, `serve-OLD${i}.cjs`), cacheDir)),
    );
    const other = path.join(dir, "other-checkout", "dist", "chunks");
    const others = Array.from({ length: KEEP + 1 }, (_, i) =>
      path.basename(cacheFileFor(path.join(other, `serve-OTHER${i}.cjs`), cacheDir)),
    );
    for (const [i, name] of [...earlier.entries(), ...others.entries()]) {
      await writeFile(path.join(cacheDir, name), "old");
      await ages(name, i + 1 + (others.includes(name) ? 10 : 0));
    }
    const stale = path.basename(cacheFileFor(path.join(other, "serve-GONE.cjs"), cacheDir));
    await writeFile(path.join(cacheDir, stale), "old");
    await ages(stale, STALE_MS / 86_400_000 + 1);
    await writeFile(path.join(cacheDir, "notes.txt"), "");
    assert.equal(run(file, cacheDir).save(), true);
    assert.deepEqual(
      (await readdir(cacheDir)).sort(),
      [
        path.basename(cacheFileFor(file, cacheDir)),
        "notes.txt",
        ...earlier.slice(0, KEEP - 1),
        ...others,
      ].sort(),
    );
  });

  it("gives each checkout of one build its own cache: a stack trace names its own bundle", async () => {
    // Two processes, as two checkouts' daemons would be (V8 reuses in-process what it compiled).
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const text = `${BUNDLE_HEAD}
"use strict";
function boom() { throw new Error("boom"); }
exports.stack = () => { try { boom(); } catch (e) { return e.stack; } };
${BUNDLE_TAIL}
`;
    const files = [];
    for (const checkout of ["one", "two"]) {
      await mkdir(path.join(dir, checkout, "dist", "chunks"), { recursive: true });
      files.push(await bundleIn(path.join(dir, checkout, "dist", "chunks"), text));
    }
    const cacheDir = path.join(dir, "cache");
    const codeCache = pathToFileURL(path.resolve("src/daemon/code-cache.ts")).href;
    const runIn = (file: string) =>
      execFileAsync(process.execPath, [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { runCachedBundle } = await import(${JSON.stringify(codeCache)});
         const side = runCachedBundle(${JSON.stringify(file)}, ${JSON.stringify(cacheDir)});
         side.save();
         console.log(JSON.stringify({ cache: side.cache, stack: side.exports.stack() }));`,
      ]).then(({ stdout }) => JSON.parse(stdout) as { cache: string; stack: string });
    for (const [i, file] of [...files, ...files].entries()) {
      const { cache, stack } = await runIn(file);
      assert.equal(cache, i < 2 ? "missing" : "used");
      assert.match(stack, new RegExp(`at boom \\(${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:`), stack);
    }
  });

  it("refuses a bundle the build did not wrap", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-"));
    const file = await bundleIn(dir, `"use strict";\nexports.answer = 42;\n`);
    assert.throws(
      () => runCachedBundle(file, path.join(dir, "cache")),
      /does not start with the bundle's wrapper/,
    );
  });

  it("lives under $XDG_CACHE_HOME, else ~/.cache", () => {
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: "/x/cache" }), "/x/cache/sysrq-bridge");
    assert.equal(defaultCacheDir({}), path.join(os.homedir(), ".cache", "sysrq-bridge"));
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: "" }), path.join(os.homedir(), ".cache", "sysrq-bridge"));
  });
});
