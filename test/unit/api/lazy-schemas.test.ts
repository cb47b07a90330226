import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FastifySchemaCompiler } from "fastify";
import { LazySchemas } from "../../../src/api/lazy-schemas.js";
import { createValidatorCompiler } from "../../../src/api/validation.js";

const bodySchema = {
  type: "object",
  properties: { keys: { type: "string" } },
  required: ["keys"],
  additionalProperties: false,
};
const route = { method: "POST", url: "/x", httpPart: "body", schema: bodySchema } as const;
const responseRoute = {
  method: "GET",
  url: "/x",
  httpStatus: "200",
  schema: { type: "object", properties: { n: { type: "integer" } } },
};

/** Our validator compiler, counting how often it compiles. */
function counting(): { compiler: FastifySchemaCompiler<unknown>; compiled: () => number } {
  const real = createValidatorCompiler();
  let count = 0;
  return {
    compiler: (definition) => {
      count += 1;
      return real(definition);
    },
    compiled: () => count,
  };
}

const turns = (n: number): Promise<void> =>
  Array.from({ length: n }).reduce<Promise<void>>(
    (p) => p.then(() => new Promise((resolve) => setImmediate(resolve))),
    Promise.resolve(),
  );

describe("lazy route schemas", () => {
  it("compile a validator on its first check, once, and hand fastify the failed check's errors", () => {
    const { compiler, compiled } = counting();
    const factory = new LazySchemas().compilersFactory(compiler);
    const buildValidator = factory.buildValidator as unknown as () => FastifySchemaCompiler<unknown>;
    const validate = buildValidator()(route);
    assert.equal(compiled(), 0);
    assert.equal(validate({ keys: "h" }), true);
    assert.equal(validate({ keys: "h", extra: 1 }), false);
    assert.equal(compiled(), 1);
    const direct = createValidatorCompiler()(route);
    direct({ keys: "h", extra: 1 });
    assert.deepEqual(validate.errors, direct.errors);
    assert.equal(validate({ keys: "m" }), true);
    assert.equal(validate.errors, null);
  });

  it("serialize as fastify's default compiler does (unknown fields dropped)", () => {
    const factory = new LazySchemas().compilersFactory(createValidatorCompiler());
    const serialize = factory.buildSerializer!(undefined, {})(responseRoute);
    assert.equal(serialize({ n: 3, secret: "x" }), '{"n":3}');
  });

  it("compile what nothing used yet after compileRemaining, in later turns of the event loop", async () => {
    const { compiler, compiled } = counting();
    const schemas = new LazySchemas();
    const buildValidator = schemas.compilersFactory(compiler)
      .buildValidator as unknown as () => FastifySchemaCompiler<unknown>;
    const compile = buildValidator();
    const first = compile(route);
    compile({ ...route, url: "/y" });
    compile({ ...route, url: "/z" });
    first({ keys: "h" });
    assert.equal(compiled(), 1);
    schemas.compileRemaining();
    assert.equal(compiled(), 1, "nothing compiled in the caller's turn");
    await turns(5);
    assert.equal(compiled(), 3);
  });
});
