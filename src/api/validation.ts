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
  // Route schemas are ours (TypeBox): test/unit/api/schema-meta.test.ts checks them against the
  // meta-schema, so start-up does not.
  validateSchema: false,
};

/** The Ajv options for a part of the request (the build compiles route schemas with these too). */
export function validatorOptions(httpPart: string | undefined): Options {
  return { ...common, coerceTypes: httpPart !== "body" };
}

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
      ? (strictAjv ??= new Ajv(validatorOptions(httpPart))).compile(schema as object)
      : (coercingAjv ??= new Ajv(validatorOptions(httpPart))).compile(schema as object);
}

/** The part of an Ajv error a message needs (fastify's FastifySchemaValidationError). */
interface SchemaError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

/** "/a/0/b" -> "a.0.b" (the field as a client spells it). */
function fieldName(instancePath: string, child?: unknown): string {
  const parts = instancePath.split("/").slice(1);
  if (typeof child === "string") parts.push(child);
  return parts.join(".");
}

function describeOne(context: string, error: SchemaError): { text: string; field: string | null } {
  if (error.keyword === "additionalProperties") {
    const field = fieldName(error.instancePath, error.params["additionalProperty"]);
    return { text: `${context} has unknown field '${field}'`, field };
  }
  if (error.keyword === "required") {
    const field = fieldName(error.instancePath, error.params["missingProperty"]);
    return { text: `${context} is missing required field '${field}'`, field };
  }
  const field = fieldName(error.instancePath);
  const what = error.message ?? "is invalid";
  return field === ""
    ? { text: `${context} ${what}`, field: null }
    : { text: `${context} field '${field}' ${what}`, field };
}

/**
 * A validation failure as a message naming the offending field ("body has unknown field 'foo'") and
 * that field (details.field), instead of Ajv's "body must NOT have additional properties".
 */
export function describeValidation(
  context: string,
  errors: readonly SchemaError[],
): { message: string; field: string | null } {
  const branches = errors.filter((error) => error.keyword !== "anyOf");
  const first = branches[0];
  if (first === undefined) return { message: `${context} is invalid`, field: null };
  const described = branches.map((error) => describeOne(context, error));
  if (branches.length === errors.length || described.length === 1) {
    return { message: described[0]!.text, field: described[0]!.field };
  }
  // A union (POST /write: data or base64): say why each of its forms refused the request.
  const reasons = [...new Set(described.map((d) => d.text.slice(context.length + 1)))];
  return {
    message: `${context} matches none of its accepted forms: ${reasons.join("; or ")}`,
    // An unknown field is the likeliest mistake; a form's missing field is only the other form's.
    field:
      described[branches.findIndex((error) => error.keyword === "additionalProperties")]?.field ??
      described.find((d) => d.field !== null)?.field ??
      null,
  };
}

/**
 * preValidation for routes whose body fields are all optional: no body at all (no content-type, as
 * `curl -X POST` sends) is `{}`, the defaults, rather than 400 "body must be object".
 */
export function emptyBodyIsDefaults(request: { body: unknown }, _reply: unknown, done: () => void): void {
  if (request.body === undefined) request.body = {};
  done();
}
