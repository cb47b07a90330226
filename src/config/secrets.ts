import { readFileSync } from "node:fs";

/** Reads a secret from an environment variable or a file (trimmed); never from the config itself. */
export function readSecret(source: { env?: string; file?: string }, what: string): string {
  if (source.env !== undefined) {
    const value = process.env[source.env];
    if (value === undefined || value === "")
      throw new Error(`${what}: environment variable ${source.env} is not set`);
    return value;
  }
  if (source.file !== undefined) return readFileSync(source.file, "utf8").trim();
  throw new Error(`${what}: give passwordEnv or passwordFile`);
}
