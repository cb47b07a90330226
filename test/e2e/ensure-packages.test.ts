/**
 * scripts/ensure-system-packages.sh while another apt holds its locks (the fcntl locks apt and dpkg
 * take, held here by a python3 lockf): with everything installed it returns at once without calling
 * apt; with a package missing it waits for the dpkg lock instead of dying with exit 100. The install
 * is apt-get's own simulation (-s), which takes the lock as a real one does and changes nothing.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireTools } from "../helpers/tools.js";

const script = fileURLToPath(new URL("../../scripts/ensure-system-packages.sh", import.meta.url));
const LOCKS = ["/var/lib/dpkg/lock-frontend", "/var/lib/apt/lists/lock"];
const HOLDER = `
import fcntl, os, sys, time
fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o640) for p in sys.argv[2:]]
for fd in fds: fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[1]))
`;

const skip =
  process.getuid?.() !== 0
    ? "SKIPPED: apt's locks can only be held as root"
    : requireTools("python3", "strace", "apt-get", "dpkg-query");

/** Holds apt's locks for `seconds`; resolves once they are held, with the time they are let go. */
async function holdLocks(
  seconds: number,
): Promise<{ released: Promise<number>; held: () => boolean; letGo: () => Promise<number> }> {
  const holder = spawn("python3", ["-c", HOLDER, String(seconds), ...LOCKS], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let held = true;
  const released = new Promise<number>((resolve) =>
    holder.once("exit", () => {
      held = false;
      resolve(Date.now());
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the lock holder did not take the locks in 10 s")),
      10_000,
    );
    holder.stdout.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const letGo = () => {
    holder.kill("SIGTERM");
    return released;
  };
  return { released, held: () => held, letGo };
}

function runScript(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stderr: string; end: number }> {
  const child = spawn(args[0] ?? "bash", args.slice(1), {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.once("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, end: Date.now() });
    }),
  );
}

test(
  "everything installed: returns at once, exit 0, no apt, though another apt holds the locks",
  { skip },
  async () => {
    const { held, letGo } = await holdLocks(10);
    const trace = path.join(await mkdtemp(path.join(os.tmpdir(), "ensure-pkgs-")), "execve");
    const run = await runScript(
      ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, "bash", script, "demo"],
      {},
    );
    const stillHeld = held();
    assert.equal(run.status, 0, run.stderr);
    assert.ok(stillHeld, "returned only after the locks were let go");
    assert.equal(run.stderr, "");
    const execs = (await readFile(trace, "utf8")).split("\n").filter((l) => l.includes("execve("));
    assert.deepEqual(
      execs.filter((l) => /"apt(-get|-cache)?"/.test(l) || /\/apt(-get|-cache)?"/.test(l)),
      [],
    );
    assert.ok(
      execs.some((l) => l.includes("dpkg-query")),
      "it looked at what is installed",
    );
    await letGo();
  },
);

test("a package missing: waits for the dpkg lock, then installs (simulated)", { skip }, async () => {
  const hello = spawnSync("dpkg-query", ["-W", "-f=${Status}", "hello"], { encoding: "utf8" });
  const known = spawnSync("apt-cache", ["show", "hello"], { stdio: "ignore" }).status === 0;
  if (hello.stdout.includes("install ok installed") || !known) {
    assert.ok(!process.env["CI"], "the apt lists must know an uninstalled 'hello' under CI");
    return;
  }
  const { released } = await holdLocks(3);
  const run = await runScript(["bash", script, "demo"], {
    SYSRQ_BRIDGE_APT_SIMULATE: "1",
    SYSRQ_BRIDGE_EXTRA_PACKAGES: "hello",
  });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(run.end >= (await released), "finished only after the lock was let go");
  assert.match(run.stderr, /installing for 'demo': hello/);
  assert.match(run.stderr, /^Inst hello /m);
});
