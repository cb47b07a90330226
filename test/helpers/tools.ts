/**
 * Real-world test tiers need real tools. Where one is missing the suite says so loudly and skips;
 * under CI (CI=true) a missing tool is a failure, never a skip.
 */
import { spawnSync } from "node:child_process";

export function hasCommand(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** Returns a skip reason for node:test, or throws under CI. */
export function requireTools(...commands: string[]): string | false {
  const missing = commands.filter((c) => !hasCommand(c));
  if (missing.length === 0) return false;
  const message = `missing ${missing.join(", ")}: run \`sudo bash .ci/run\` once, or install the Debian packages it lists`;
  if (process.env["CI"]) throw new Error(`${message} (CI must not skip this suite)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  return `SKIPPED: ${message}`;
}
