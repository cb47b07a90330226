/**
 * Route schemas (Ajv validators, fast-json-stringify serializers) compile when a request first needs
 * them, or once listening in the idle time, one per turn of the event loop: compiled up front they
 * delayed start-up (see docs/performance.md), and no request waits for all of them.
 */
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import type { FastifySchemaCompiler, FastifyServerOptions } from "fastify";

type SchemaControllerOptions = NonNullable<FastifyServerOptions["schemaController"]>;
type CompilersFactory = NonNullable<SchemaControllerOptions["compilersFactory"]>;
type Validate = ReturnType<FastifySchemaCompiler<unknown>>;
type Serialize = (data: unknown) => string;

export class LazySchemas {
  private readonly pending = new Set<() => void>();

  /**
   * fastify's schema compilers: `validatorCompiler` compiles with the given one (ours, see
   * validation.ts), serializers with fastify's default (fast-json-stringify), each on first use.
   */
  compilersFactory(validatorCompiler: FastifySchemaCompiler<unknown>): CompilersFactory {
    return {
      buildValidator: (() => (route: Parameters<FastifySchemaCompiler<unknown>>[0]) =>
        this.validator(() => validatorCompiler(route))) as unknown as CompilersFactory["buildValidator"],
      buildSerializer: (externalSchemas, options) => {
        const compile = SerializerSelector()(externalSchemas, options);
        return (route) => this.serializer(() => compile(route));
      },
    };
  }

  /** Compiles, in the idle time, every schema no request has compiled yet. */
  compileRemaining(): void {
    const next = (): void => {
      const [compile] = this.pending;
      if (!compile) return;
      compile();
      setImmediate(next).unref();
    };
    setImmediate(next).unref();
  }

  private defer<F>(compile: () => F): () => F {
    let compiled: F | undefined;
    const get = (): F => {
      if (compiled === undefined) {
        this.pending.delete(get);
        compiled = compile();
      }
      return compiled;
    };
    this.pending.add(get);
    return get;
  }

  private validator(compile: () => Validate): Validate {
    const get = this.defer(compile);
    // fastify reads the failed check's `errors` from the function it was given: copy them over.
    const validate = ((data: unknown) => {
      const compiled = get();
      const result = compiled(data);
      validate.errors = compiled.errors;
      return result;
    }) as Validate;
    return validate;
  }

  private serializer(compile: () => Serialize): Serialize {
    const get = this.defer(compile);
    return (data) => get()(data);
  }
}
