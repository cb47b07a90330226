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

/**
 * Each instance is created by the first schema it compiles (validators compile lazily, see
 * lazy-schemas.ts): an Ajv instance adds its meta-schemas when created, a few milliseconds of
 * start-up otherwise spent before the server listens.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  let strictAjv: Ajv | undefined;
  let coercingAjv: Ajv | undefined;
  return ({ schema, httpPart }) =>
    httpPart === "body"
      ? (strictAjv ??= new Ajv({ ...common, coerceTypes: false })).compile(schema as object)
      : (coercingAjv ??= new Ajv({ ...common, coerceTypes: true })).compile(schema as object);
}
