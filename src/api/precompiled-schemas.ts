/**
 * Route validators and serializers compiled by the build, so that no request (the first one after
 * start-up least of all) waits for Ajv or fast-json-stringify to compile its route's schemas (tens of
 * milliseconds each). The build replaces this module (scripts/route-schemas.ts) with their generated
 * code, keyed by schemaKey; from the sources there are none, and every schema compiles when first used.
 */
import type { PrecompiledSchemas } from "./lazy-schemas.js";

export const precompiledSchemas: PrecompiledSchemas | null = null;
