/**
 * Builds ./ipmi-nmi-module/nmi_diag.c (an ipmi_sim `loadlib` module: `chassis power diag` -> NMI)
 * with gcc against Debian's libopenipmi-dev, once per source version, into the cache beside the guest
 * (outside the repository). Resolves with the .so's path.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, readFile, rename } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SOURCE = fileURLToPath(new URL("./ipmi-nmi-module/nmi_diag.c", import.meta.url));
const BUILD_DEADLINE_MS = 60_000;

function cacheDir(): string {
  return join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "sysrq-bridge", "ipmi-nmi-module");
}

let built: Promise<string> | undefined;

export function ensureNmiModule(): Promise<string> {
  built ??= build().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function build(): Promise<string> {
  const source = await readFile(SOURCE);
  const digest = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const so = join(dir, `nmi_diag-${digest}.so`);
  try {
    await access(so);
    return so;
  } catch {
    // not built yet
  }
  await mkdir(dir, { recursive: true });
  const tmp = `${so}.${process.pid}.tmp`;
  const args = ["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", tmp, SOURCE];
  await new Promise<void>((resolve, reject) => {
    const child = spawn("gcc", args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-8192);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), BUILD_DEADLINE_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`gcc ${args.join(" ")} failed (${String(code)}): ${stderr.trim()}`));
    });
  });
  await rename(tmp, so);
  return so;
}
