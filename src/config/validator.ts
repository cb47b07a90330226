/**
 * The config's validator: Ajv compiled from schema.ts. Compiling it took ~100 ms of every start, so
 * the build (scripts/build.ts) replaces this module in dist/ with the same validator generated ahead
 * of time by Ajv's standalone code, from the same schema and these same options.
 */
import { Ajv, type Options, type ValidateFunction } from "ajv";
import { ConfigSchema, type ConfigInput } from "./schema.js";

export const CONFIG_AJV_OPTIONS: Options = {
  allErrors: false,
  discriminator: true,
  strict: true,
  strictTypes: false,
  strictRequired: false,
  // The schema is ours, built by TypeBox: checking it against the JSON Schema meta-schema at every
  // start-up took a third of the compile (test/unit/schema-meta.test.ts checks it instead).
  validateSchema: false,
};

export const validateConfig: ValidateFunction<ConfigInput> = new Ajv(CONFIG_AJV_OPTIONS).compile<ConfigInput>(
  ConfigSchema,
);
