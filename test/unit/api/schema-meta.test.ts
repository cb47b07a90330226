/**
 * The config and API schemas are valid JSON Schema. Start-up compiles them without checking them
 * against the meta-schema (validateSchema: false, a third of the compile time), so the check is here.
 * Every route schema is in src/api/schemas/ (one file per resource), so every one is checked.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { errorsOf } from "../../../src/api/schemas/common.js";
import { ConfigSchema } from "../../../src/config/schema.js";

const SCHEMAS_DIR = new URL("../../../src/api/schemas/", import.meta.url);
const ROUTES_DIR = new URL("../../../src/api/routes/", import.meta.url);

const tsFiles = (dir: URL): string[] =>
  readdirSync(dir)
    .filter((file) => file.endsWith(".ts"))
    .sort();

/** Every exported schema object of src/api/schemas/, named "file: export". */
async function apiSchemaEntries(): Promise<[string, unknown][]> {
  const entries: [string, unknown][] = [];
  for (const file of tsFiles(SCHEMAS_DIR)) {
    const module = (await import(new URL(file, SCHEMAS_DIR).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) entries.push([`${file}: ${name}`, value]);
  }
  return entries.filter(([, value]) => typeof value === "object" && value !== null && !Array.isArray(value));
}

/** The object schemas of a request schema (the branches of a union) that accept unknown fields. */
function openObjects(schema: Record<string, unknown>): Record<string, unknown>[] {
  const branches = (schema["anyOf"] ?? schema["oneOf"]) as Record<string, unknown>[] | undefined;
  if (branches) return branches.flatMap(openObjects);
  return schema["type"] === "object" && schema["additionalProperties"] !== false ? [schema] : [];
}

const ajv = new Ajv({ strict: true, strictTypes: false, strictRequired: false, discriminator: true });

function assertMetaValid(name: string, schema: unknown): void {
  assert.equal(ajv.validateSchema(schema as object), true, `${name}: ${ajv.errorsText(ajv.errors)}`);
}

describe("schemas against the JSON Schema meta-schema", () => {
  it("accepts the config schema", () => {
    assertMetaValid("ConfigSchema", ConfigSchema);
  });

  it("accepts every schema in api/schemas/", async () => {
    const schemas = await apiSchemaEntries();
    assert.ok(schemas.length > 10, "the module's schemas were found");
    for (const [name, value] of schemas) assertMetaValid(name, value);
    const statuses = [400, 401, 403, 404, 409, 410, 413, 415, 416, 429, 502, 503, 504] as const;
    for (const [status, schema] of Object.entries(errorsOf(statuses)))
      assertMetaValid(`errorsOf ${status}`, schema);
  });

  it("finds every route schema in api/schemas/: no route file builds one of its own", () => {
    for (const file of tsFiles(ROUTES_DIR)) {
      const source = readFileSync(fileURLToPath(new URL(file, ROUTES_DIR)), "utf8");
      assert.doesNotMatch(source, /^import (?!type )[^;]*from "typebox";/m, `routes/${file} imports TypeBox`);
    }
  });

  it("refuses unknown fields in every request body, query and params schema", async () => {
    const requests = (await apiSchemaEntries()).filter(([name]) => /(Body|Query|Params)$/.test(name));
    assert.ok(requests.length >= 10, "the request schemas were found");
    for (const [name, schema] of requests)
      assert.deepEqual(openObjects(schema as Record<string, unknown>), [], `${name} accepts unknown fields`);
  });

  it("rejects a schema that is not one (the check can fail)", () => {
    assert.equal(ajv.validateSchema({ type: "no-such-type" }), false);
  });
});
