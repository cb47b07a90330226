/**
 * `npm run build`: bundles src/ with esbuild into dist/ (type errors are tsc's job, run just before).
 * `tsx scripts/build.ts OUTDIR` builds elsewhere (OUTDIR two levels below a package root, like dist/).
 *
 * Why a bundle: start-up was spent loading modules. typebox alone is ~370 small ES modules, and Node
 * resolves, reads and compiles each one (one file of the tree-shaken bundle loads ~10x faster).
 *
 *   dist/main.js                 the bin; imports one side or the other on demand
 *   dist/chunks/serve-*.js       the daemon (fastify, typebox, ajv, yaml ...)
 *   dist/chunks/commands-*.js    the client commands (ws only)
 *   dist/chunks/chunk-*.js       what both share
 *
 * The chunks sit two levels below the package root, as the sources do in src/<dir>/, so code that
 * finds package.json or web/ relative to import.meta.url works from both.
 * Left as packages in node_modules (loaded at run time, not bundled):
 *   serialport           native binding, found relative to its own package
 *   pino                 its transports run in worker threads loaded by file path
 * @fastify/swagger-ui is bundled, but finds its static files through __dirname: see packageDirname.
 * The config's validator is generated here rather than compiled at each start: see configValidator.
 */
import { Ajv } from "ajv";
import standalone from "ajv/dist/standalone/index.js";
import { build, type Plugin } from "esbuild";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Bundled CommonJS files of these packages that use __dirname get it back, pointing where the file
 * is installed (found at run time, so dist/ works wherever node_modules is).
 */
const KEEPS_DIRNAME = ["@fastify/swagger-ui"];

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

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = process.argv[2] ?? "dist";

const result = await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  external: ["serialport", "pino"],
  plugins: [packageDirname, configValidator],
  // Bundled CommonJS packages call require() for node built-ins and the externals above.
  banner: {
    js: 'import { createRequire as __bundleCreateRequire } from "node:module"; const require = __bundleCreateRequire(import.meta.url);',
  },
  logLevel: "warning",
  metafile: true,
});

// Chunk names carry a content hash: remove what earlier builds left, once this one is in place (not
// before: a daemon or test started meanwhile would find no dist/main.js).
const built = new Set(Object.keys(result.metafile.outputs).map((file) => path.resolve(root, file)));
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
