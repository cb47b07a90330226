/**
 * The config and API schemas are valid JSON Schema. Start-up compiles them without checking them
 * against the meta-schema (validateSchema: false, a third of the compile time), so the check is here.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import * as apiSchemas from "../../src/api/schemas.js";
import { ConfigSchema } from "../../src/config/schema.js";

const ajv = new Ajv({ strict: true, strictTypes: false, strictRequired: false, discriminator: true });

function assertMetaValid(name: string, schema: unknown): void {
  assert.equal(ajv.validateSchema(schema as object), true, `${name}: ${ajv.errorsText(ajv.errors)}`);
}

describe("schemas against the JSON Schema meta-schema", () => {
  it("accepts the config schema", () => {
    assertMetaValid("ConfigSchema", ConfigSchema);
  });

  it("accepts every schema in api/schemas.ts", () => {
    const schemas = Object.entries(apiSchemas).filter(
      ([, value]) => typeof value === "object" && value !== null && !Array.isArray(value),
    );
    assert.ok(schemas.length > 10, "the module's schemas were found");
    for (const [name, value] of schemas) assertMetaValid(name, value);
    const statuses = [400, 401, 403, 404, 409, 410, 413, 415, 416, 429, 502, 503, 504] as const;
    for (const [status, schema] of Object.entries(apiSchemas.errorsOf(statuses)))
      assertMetaValid(`errorsOf ${status}`, schema);
  });

  it("rejects a schema that is not one (the check can fail)", () => {
    assert.equal(ajv.validateSchema({ type: "no-such-type" }), false);
  });
});
