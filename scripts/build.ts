/**
 * `npm run build`: bundles src/ with esbuild into dist/ (type errors are tsc's job, run just before).
 * `tsx scripts/build.ts OUTDIR` builds elsewhere (OUTDIR two levels below a package root, like dist/).
 *
 * Why a bundle: start-up was spent loading modules. typebox alone is ~370 small ES modules, and Node
 * resolves, reads and compiles each one (one file of the tree-shaken bundle loads ~10x faster).
 *
 *   dist/main.js                 the bin (ES module); loads one side or the other on demand
 *   dist/chunks/serve-*.cjs      the daemon (fastify, typebox, ajv, js-yaml, pino ...), minified,
 *                                CommonJS inside a function expression: main.js runs it through a V8
 *                                code cache (see daemonSide)
 *   dist/chunks/commands-*.js    the client commands (ws only)
 *   dist/chunks/chunk-*.js       what main.js and the commands share
 *
 * The chunks sit two levels below the package root, as the sources do in src/<dir>/, so code that
 * finds package.json or web/ relative to import.meta.url works from both.
 * Left as a package in node_modules (loaded at run time, not bundled):
 *   @serialport/bindings-cpp   native binding, found relative to its own package
 *   ssh2                       optional native crypto found relative to it; the SSH door hooks its
 *                              pinned internals (export/ssh-break-hook.ts), so it stays as installed
 * @fastify/swagger-ui is bundled, but finds its static files through __dirname, and pino's transport
 * (pretty output on a terminal) starts worker threads from files named relative to __dirname: see
 * packageDirname. pino was once left out for that; bundled, the code cache covers it and a start no
 * longer resolves and compiles its ~20 files from node_modules.
 * The config's validator is generated here rather than compiled at each start: see configValidator.
 */
import { Ajv } from "ajv";
import standalone from "ajv/dist/standalone/index.js";
import { build, type Plugin } from "esbuild";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE_HEAD, BUNDLE_TAIL } from "../src/daemon/code-cache.js";

/**
 * Bundled CommonJS files of these packages that use __dirname get it back, pointing where the file
 * is installed (found at run time, so dist/ works wherever node_modules is).
 */
const KEEPS_DIRNAME = ["@fastify/swagger-ui", "pino", "thread-stream"];

const packageDirname: Plugin = {
  name: "package-dirname",
  setup(build) {
    const filter = new RegExp(`/node_modules/(${KEEPS_DIRNAME.join("|")})/.*\\.js$`);
    build.onLoad({ filter }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (!source.includes("__dirname")) return undefined;
      const inPackage = args.path.slice(args.path.lastIndexOf("/node_modules/") + "/node_modules/".length);
      const prelude = `var __dirname = require("node:path").dirname(require.resolve(${JSON.stringify(inPackage)}));`;
      return { contents: `${prelude}\n${source}`, loader: "js", resolveDir: path.dirname(args.path) };
    });
  },
};

/**
 * src/config/validator.ts compiles the config's validator with Ajv when loaded (~100 ms of every
 * start); the bundle gets the same validator as Ajv's standalone code, generated from the same schema
 * with the same options. Its runtime helpers (ajv/dist/runtime/*) are bundled with it.
 */
const configValidator: Plugin = {
  name: "config-validator",
  setup(build) {
    build.onLoad({ filter: /\/src\/config\/validator\.ts$/ }, async () => {
      const { ConfigSchema } = await import("../src/config/schema.js");
      const { CONFIG_AJV_OPTIONS } = await import("../src/config/validator.js");
      const ajv = new Ajv({ ...CONFIG_AJV_OPTIONS, code: { source: true, esm: true } });
      const code = standalone.default(ajv, ajv.compile(ConfigSchema));
      const exports = [
        "export const validateConfig = validate;",
        `export const CONFIG_AJV_OPTIONS = ${JSON.stringify(CONFIG_AJV_OPTIONS)};`,
      ];
      return { contents: `${code}\n${exports.join("\n")}\n`, loader: "js", resolveDir: root };
    });
  },
};

/**
 * src/api/precompiled-schemas.ts gets every route's validators and response serializers as generated
 * code (scripts/route-schemas.ts): compiled at run time, the first request of a route waited for them
 * (~100 ms for POST /ports/:id/sysrq on this project's VM, more than the rest of its answer).
 */
const routeSchemas: Plugin = {
  name: "route-schemas",
  setup(build) {
    build.onLoad({ filter: /\/src\/api\/precompiled-schemas\.ts$/ }, async () => {
      const { routeSchemasModule } = await import("./route-schemas.js");
      return { contents: await routeSchemasModule(), loader: "js", resolveDir: root };
    });
  },
};

/**
 * The daemon side is a bundle of its own, CommonJS so that main.js can compile it with vm.Script and
 * a V8 code cache (src/daemon/code-cache.ts; Node 20 has no compile cache for ES modules): a start from
 * the cache skips parsing and compiling what an earlier start compiled. In place of
 * src/daemon/daemon-side.ts, main.js gets this loader, naming the bundle's file. Minified: a third of
 * the text to read and hash at each start (whitespace and syntax only: names stay for stack traces).
 */
function daemonSide(bundle: string): Plugin {
  return {
    name: "daemon-side",
    setup(build) {
      build.onLoad({ filter: /\/src\/daemon\/daemon-side\.ts$/ }, () => ({
        contents: [
          'import { fileURLToPath } from "node:url";',
          'import { defaultCacheDir, runCachedBundle } from "./code-cache.js";',
          'import { tierUpForServing } from "./jit-tiering.js";',
          "export async function loadDaemonSide() {",
          `  const file = fileURLToPath(new URL(${JSON.stringify(`./${bundle}`)}, import.meta.url));`,
          "  const side = runCachedBundle(file, defaultCacheDir());",
          "  // Once listening: the cache is written off the path to the first request's answer, then the",
          "  // flags change (a cache holds for the flags it was made with).",
          "  const started = () => {",
          "    side.save();",
          "    tierUpForServing();",
          "  };",
          "  return { serve: side.exports.serve, started: () => setTimeout(started, 1000).unref() };",
          "}",
        ].join("\n"),
        loader: "js",
        resolveDir: path.join(root, "src/daemon"),
      }));
    },
  };
}

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = process.argv[2] ?? "dist";

const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  platform: "node" as const,
  target: "node20",
  sourcemap: true,
  // Native or patched modules stay in node_modules: node-pty is loaded only for exec ports with
  // pty: true; ssh2 has optional native crypto and the SSH door hooks its internals.
  external: ["@serialport/bindings-cpp", "ssh2", "node-pty"],
  logLevel: "warning" as const,
  metafile: true as const,
};

const daemon = await build({
  ...common,
  entryPoints: ["src/daemon/serve.ts"],
  entryNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  define: { "import.meta.url": "__bundle_import_meta_url" },
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence comments go to a file of their own, leaving the bundle ASCII: Node reads an ASCII file
  // into a one-byte string, a file with one other character into a two-byte one (slower throughout).
  legalComments: "linked",
  // The text is the vm.Script's source as it is (see code-cache.ts); the head has a line of its own,
  // so line numbers in stack traces and the source map stay the file's.
  banner: { js: BUNDLE_HEAD },
  footer: { js: BUNDLE_TAIL },
  plugins: [packageDirname, configValidator, routeSchemas],
  // packageDirname's require.resolve runs at run time on purpose.
  logOverride: { "require-resolve-not-external": "silent" },
});
const bundle = Object.keys(daemon.metafile.outputs).find((file) => file.endsWith(".cjs"));
if (!bundle) throw new Error("no daemon bundle in the build's output");

const result = await build({
  ...common,
  entryPoints: ["src/main.ts"],
  chunkNames: "chunks/[name]-[hash]",
  splitting: true,
  format: "esm",
  plugins: [daemonSide(path.relative(path.resolve(root, outdir), path.resolve(root, bundle)))],
  // Bundled CommonJS packages call require() for node built-ins and the externals above.
  banner: {
    js: 'import { createRequire as __bundleCreateRequire } from "node:module"; const require = __bundleCreateRequire(import.meta.url);',
  },
});
const main = Object.entries(result.metafile.outputs).find(
  ([file]) => path.resolve(root, file) === path.resolve(root, outdir, "main.js"),
);
if (!main?.[1].inputs["src/daemon/daemon-side.ts"]) {
  throw new Error("the daemon side's loader must be in main.js: it finds the bundle relative to it");
}
// A loader not replaced (its filter no longer matching the file) would bundle the daemon a second time.
if (result.metafile.inputs["src/daemon/serve.ts"]) {
  throw new Error("main.js must load the daemon side from its bundle, not contain it (see daemonSide)");
}

// Chunk names carry a content hash: remove what earlier builds left, once this one is in place (not
// before: a daemon or test started meanwhile would find no dist/main.js).
const built = new Set(
  [...Object.keys(daemon.metafile.outputs), ...Object.keys(result.metafile.outputs)].map((file) =>
    path.resolve(root, file),
  ),
);
for (const entry of await readdir(path.resolve(root, outdir), { recursive: true, withFileTypes: true })) {
  const file = path.join(entry.parentPath, entry.name);
  if (entry.isFile() && !built.has(file)) await rm(file);
}
for (const entry of await readdir(path.resolve(root, outdir), { withFileTypes: true })) {
  const dir = path.join(entry.parentPath, entry.name);
  if (
    entry.isDirectory() &&
    (await readdir(dir, { recursive: true })).every((name) => !built.has(path.join(dir, name)))
  ) {
    await rm(dir, { recursive: true });
  }
}
