/**
 * The route schemas the build compiles ahead (scripts/route-schemas.ts, into
 * src/api/precompiled-schemas.ts): every schema the app's routes use is there, and its generated code
 * checks, fills in defaults, reports errors and serializes exactly as the compilers it stands in for.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import { build } from "esbuild";
import { schemaKey, type PrecompiledSchemas, type RouteSchema } from "../../../src/api/lazy-schemas.js";
import { createValidatorCompiler } from "../../../src/api/validation.js";
import { listRouteSchemas, routeSchemasModule } from "../../../scripts/route-schemas.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** The generated module, bundled as the build bundles it (its require()s resolved), then imported. */
async function generated(): Promise<PrecompiledSchemas> {
  const out = await build({
    stdin: { contents: await routeSchemasModule(), resolveDir: root, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "silent",
  });
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), "route-schemas-")), "precompiled.mjs");
  await writeFile(file, out.outputFiles[0]!.text);
  const module = (await import(pathToFileURL(file).href)) as { precompiledSchemas: PrecompiledSchemas };
  return module.precompiledSchemas;
}

/** Inputs every validator is tried with: valid and invalid bodies, params and queries of the routes. */
const INPUTS: unknown[] = [
  {},
  { keys: "h" },
  { keys: "h", settleMs: 0 },
  { keys: "h", extra: 1 },
  { keys: "h!" },
  { keys: 5 },
  { id: "vm0" },
  { id: "bad id" },
  { breakMs: 0 },
  { breakMs: "250" },
  { waitMs: "2000", match: "READY", tail: "10" },
  { since: "x" },
  { data: "ls\n" },
  { base64: "AA==" },
  { data: "x", base64: "AA==" },
  null,
  "text",
  [],
];

/** Outputs every serializer is tried with (the sysrq answer among them, an unknown field in it). */
const OUTPUTS: unknown[] = [
  {},
  { status: "ok" },
  {
    port: "vm0",
    results: [{ key: "h", verdict: "acknowledged", line: "sysrq: HELP", latencyMs: 1.5, secret: 1 }],
  },
  { statusCode: 404, code: "PORT_NOT_FOUND", error: "Not Found", message: "no port x" },
  [],
  [{ id: "vm0" }],
];

function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

describe("route schemas compiled by the build", () => {
  it("cover every schema of the app's routes and behave as the run-time compilers", async () => {
    const [precompiled, listed] = await Promise.all([generated(), listRouteSchemas()]);
    const validators = listed.filter(
      (s): s is Extract<RouteSchema, { kind: "validator" }> => s.kind === "validator",
    );
    const serializers = listed.filter(
      (s): s is Extract<RouteSchema, { kind: "serializer" }> => s.kind === "serializer",
    );
    assert.ok(validators.some((s) => s.route.url === "/ports/:id/sysrq" && s.route.httpPart === "body"));
    assert.ok(serializers.length > 10, "the routes' response schemas were listed");
    const compileAtRunTime = createValidatorCompiler();
    for (const { route } of validators) {
      const ahead = precompiled.validator(schemaKey(route.schema, route.httpPart));
      assert.ok(ahead, `${route.method} ${route.url} ${route.httpPart}: precompiled`);
      const now = compileAtRunTime(route);
      for (const input of INPUTS) {
        const [a, b] = [structuredClone(input), structuredClone(input)];
        const what = `${route.method} ${route.url} ${route.httpPart} ${JSON.stringify(input)}`;
        assert.equal(ahead(a), now(b), what);
        assert.deepEqual(a, b, `${what}: defaults and coercion`);
        assert.deepEqual(ahead.errors ?? null, now.errors ?? null, `${what}: errors`);
      }
    }
    for (const entry of serializers) {
      const ahead = precompiled.serializer(schemaKey(entry.schema));
      assert.ok(ahead, `${JSON.stringify(entry.schema).slice(0, 80)}: precompiled`);
      const now = SerializerSelector()(entry.externalSchemas, entry.options)({
        schema: entry.schema,
        method: "GET",
        url: "/",
        httpStatus: "200",
      });
      for (const output of OUTPUTS)
        assert.deepEqual(
          outcome(() => ahead(output)),
          outcome(() => now(output)),
          JSON.stringify(output),
        );
    }
  });

  it("are looked up by their text and part: another schema is not found", async () => {
    const precompiled = await generated();
    assert.equal(
      precompiled.validator(schemaKey({ type: "object", title: "no route's" }, "body")),
      undefined,
    );
    assert.equal(precompiled.serializer(schemaKey({ type: "string", title: "no route's" })), undefined);
  });
});
