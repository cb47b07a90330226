/**
 * The config's validator: Ajv compiled from schema.ts. The build (scripts/build.ts) replaces this
 * module in dist/ with the same validator generated ahead of time by Ajv's standalone code, from the
 * same schema and these same options, so that no start pays for the compile (see docs/performance.md).
 */
import { Ajv, type Options, type ValidateFunction } from "ajv";
import { ConfigSchema, type ConfigInput } from "./schema.js";

export const CONFIG_AJV_OPTIONS: Options = {
  allErrors: false,
  discriminator: true,
  strict: true,
  strictTypes: false,
  strictRequired: false,
  // Ours (TypeBox): test/unit/api/schema-meta.test.ts checks it against the meta-schema, not every start
  // (see docs/performance.md).
  validateSchema: false,
};

export const validateConfig: ValidateFunction<ConfigInput> = new Ajv(CONFIG_AJV_OPTIONS).compile<ConfigInput>(
  ConfigSchema,
);
