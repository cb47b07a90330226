/**
 * Two Ajv instances: bodies are checked exactly as sent (no type coercion: fastify's default would turn
 * {"keys": true} into "true" and send t, r, u, e; unknown fields are errors, not dropped), while
 * params and querystrings, which arrive as text, are coerced to the declared types.
 */
import { Ajv, type Options } from "ajv";
import type { FastifySchemaCompiler } from "fastify";

const common: Options = {
  allErrors: false,
  strict: true,
  strictTypes: false,
  useDefaults: true,
  removeAdditional: false,
  // Route schemas are ours (TypeBox): test/unit/schema-meta.test.ts checks them against the
  // meta-schema, so start-up does not.
  validateSchema: false,
};

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strictAjv = new Ajv({ ...common, coerceTypes: false });
  const coercingAjv = new Ajv({ ...common, coerceTypes: true });
  return ({ schema, httpPart }) => (httpPart === "body" ? strictAjv : coercingAjv).compile(schema as object);
}
