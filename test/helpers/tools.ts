/**
 * Real-world test tiers need real tools. Where one is missing the suite says so loudly and skips;
 * under CI (CI=true) a missing tool is a failure, never a skip.
 */
import { spawnSync } from "node:child_process";
import { guestModules } from "../kit/guest.js";

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

/**
 * Returns a skip reason when the test guest's initramfs lacks one of the kernel modules `names`
 * (build-guest.sh's modules.txt says why, e.g. no linux-headers for the test module), or throws
 * under CI. Builds the guest image if needed: call it after requireTools passed.
 */
export async function requireGuestModules(...names: string[]): Promise<string | false> {
  const { paths, missing } = await guestModules();
  const absent = names
    .filter((name) => !paths.has(name))
    .map((name) => `${name}.ko (${missing.get(name) ?? "not in the guest's modules.txt"})`);
  if (absent.length === 0) return false;
  const message = `the test guest lacks ${absent.join(", ")}`;
  if (process.env["CI"]) throw new Error(`${message} (CI must not skip this suite)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  return `SKIPPED: ${message}`;
}
