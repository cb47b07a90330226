/**
 * Route schemas (Ajv validators, fast-json-stringify serializers) compile when a request first needs
 * them, or once listening in the idle time, one per turn of the event loop: compiled up front they
 * delayed start-up (see docs/performance.md), and no request waits for all of them.
 * The build compiles them all ahead (precompiled-schemas.ts): then "compiling" one here is a lookup
 * of its generated code.
 */
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import type { FastifySchemaCompiler, FastifyServerOptions } from "fastify";

type SchemaControllerOptions = NonNullable<FastifyServerOptions["schemaController"]>;
type CompilersFactory = NonNullable<SchemaControllerOptions["compilersFactory"]>;
type Validate = ReturnType<FastifySchemaCompiler<unknown>>;
type Serialize = (data: unknown) => string;
type ValidatorRoute = Parameters<FastifySchemaCompiler<unknown>>[0];
type SerializerFactory = NonNullable<CompilersFactory["buildSerializer"]>;

/** Validators and serializers made ahead of time (by the build), found by schemaKey. */
export interface PrecompiledSchemas {
  validator(key: string): Validate | undefined;
  serializer(key: string): Serialize | undefined;
}

/** What a schema compiles to depends on its text and, for a validator, the part it checks. */
export function schemaKey(schema: unknown, httpPart?: string): string {
  return `${httpPart ?? "response"} ${JSON.stringify(schema)}`;
}

/** A schema fastify asked for, as the build sees it (see routeSchemas). */
export type RouteSchema =
  | { readonly kind: "validator"; readonly route: ValidatorRoute }
  | {
      readonly kind: "serializer";
      readonly schema: unknown;
      readonly externalSchemas: Parameters<SerializerFactory>[0];
      readonly options: Parameters<SerializerFactory>[1];
    };

export class LazySchemas {
  private readonly pending = new Set<() => void>();
  private readonly seen: RouteSchema[] = [];

  constructor(private readonly precompiled: PrecompiledSchemas | null = null) {}

  /** Every schema fastify asked a compiler for (the build compiles these ahead). */
  routeSchemas(): readonly RouteSchema[] {
    return this.seen;
  }

  /**
   * fastify's schema compilers: `validatorCompiler` compiles with the given one (ours, see
   * validation.ts), serializers with fastify's default (fast-json-stringify), each on first use.
   */
  compilersFactory(validatorCompiler: FastifySchemaCompiler<unknown>): CompilersFactory {
    return {
      buildValidator: (() => (route: ValidatorRoute) => {
        this.seen.push({ kind: "validator", route });
        return this.validator(
          () =>
            this.precompiled?.validator(schemaKey(route.schema, route.httpPart)) ?? validatorCompiler(route),
        );
      }) as unknown as CompilersFactory["buildValidator"],
      buildSerializer: (externalSchemas, options) => {
        const compile = SerializerSelector()(externalSchemas, options);
        return (route) => {
          this.seen.push({ kind: "serializer", schema: route.schema, externalSchemas, options });
          return this.serializer(
            () => this.precompiled?.serializer(schemaKey(route.schema)) ?? compile(route),
          );
        };
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
