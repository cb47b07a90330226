/**
 * The Dockerfile's image, built and run as users deploy it: podman builds it from this checkout
 * (FROM node:20-bookworm-slim resolves to a local stand-in, never pulled: test/kit/build-node-base.sh),
 * then runs it with a config mounted, on the host's network, attached to a real Linux guest's console
 * under QEMU: /healthz answers and SysRq h comes back acknowledged with the kernel's line.
 * Minutes of npm ci in the build: `npm run test:all` runs this folder alongside the other suites.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { waitUntil } from "../helpers/daemon.js";
import { client, type LogBody, type SysrqBody } from "../helpers/http.js";
import { alive, ensureNodeBase, podman, ulimitFlags } from "../helpers/podman.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const NAME = "sysrq-bridge-test";
const RUN = `${NAME}-${process.pid}`;
const RUN_DEFAULT = `${NAME}-default-${process.pid}`;
const IMAGE = `localhost/${NAME}:${process.pid}`;

function rootOrSkip(): string | false {
  if (process.getuid?.() === 0) return false;
  const message = "the container suite runs podman and debootstrap as root";
  if (process.env["CI"]) throw new Error(`${message} (CI must not skip this suite)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  return `SKIPPED: ${message}`;
}

const skip =
  rootOrSkip() ||
  requireTools("podman", "runc", "debootstrap", "qemu-system-x86_64", "cpio", "busybox", "nice");

/** Containers and images of earlier runs whose process is gone (killed before its cleanup ran). */
async function removeLeftovers(): Promise<void> {
  const dead = (pid: string): boolean => /^\d+$/.test(pid) && !alive(Number(pid));
  const containers = (await podman(["ps", "-a", "--format", "{{.Names}}"])).stdout.split("\n");
  const stale = containers.filter((n) => n.startsWith(`${NAME}-`) && dead(n.slice(n.lastIndexOf("-") + 1)));
  if (stale.length > 0) await podman(["rm", "--force", ...stale]);
  const images = (await podman(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout.split("\n");
  const prefix = `localhost/${NAME}:`;
  const old = images.filter((n) => n.startsWith(prefix) && dead(n.slice(prefix.length)));
  if (old.length > 0) await podman(["rmi", "--force", ...old]);
}

describe("the Dockerfile's image under podman", { skip, timeout: 25 * 60_000 }, () => {
  let guest: Guest | undefined;
  let dir = "";
  let started = false;
  let api: ReturnType<typeof client>;

  before(async () => {
    await removeLeftovers();
    await ensureNodeBase(15 * 60_000);
    // --layers=false: no intermediate images left behind; the host's npm cache spares the downloads.
    const npmCache = spawnSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).stdout.trim();
    const withCache = npmCache !== "" && existsSync(npmCache); // podman refuses a missing source
    await podman(
      [
        "build",
        "--pull=never",
        "--network=host",
        "--layers=false",
        "--force-rm",
        ...ulimitFlags(),
        ...(withCache ? ["--volume", `${npmCache}:/root/.npm`] : []),
        "--tag",
        IMAGE,
        REPO,
      ],
      15 * 60_000,
    );

    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-container-"));
    await chmod(dir, 0o755); // read by the image's user node (uid 1000)
    const httpPort = await freeTcpPort();
    const telnetPort = await freeTcpPort();
    // JSON is YAML: the image's CMD reads /etc/sysrq-bridge/config.yaml.
    await writeFile(
      path.join(dir, "config.yaml"),
      JSON.stringify({
        listen: { host: "127.0.0.1", port: httpPort },
        captureDir: "/var/lib/sysrq-bridge",
        ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort } }],
      }),
      { mode: 0o644 },
    );
    started = true;
    await podman([
      "run",
      "--detach",
      "--name",
      RUN,
      "--network=host",
      ...ulimitFlags(),
      "--volume",
      `${dir}:/etc/sysrq-bridge:ro`,
      IMAGE,
    ]);
    api = client(`http://127.0.0.1:${httpPort}`);
    const healthy = (): Promise<boolean> =>
      fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        (r) => r.ok,
        () => false,
      );
    await waitUntil(healthy, 60_000, "the container's /healthz").catch(async (err: unknown) => {
      const logs = await podman(["logs", RUN]).then(
        (r) => r.stdout + r.stderr,
        (e: unknown) => String(e),
      );
      throw new Error(`${String(err)}; the container's log:\n${logs.slice(-4000)}`);
    });
    // The guest after the daemon, as a lab starts them: its boot log is captured from the first line.
    guest = await startGuest({ telnetPort, append: ["sysctl.kernel.sysrq=1"] });
    const ready = await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    assert.equal(ready.body.lines.length, 1, "the guest's ready marker came through the container");
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    await new Promise((r) => setTimeout(r, 300));
  });

  after(async () => {
    await guest?.stop();
    if (started) await podman(["rm", "--force", "--time", "2", RUN, RUN_DEFAULT]).catch(() => undefined);
    await podman(["rmi", "--force", IMAGE]).catch(() => undefined);
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("answers /healthz, as user node, not root", async () => {
    assert.equal((await api.get<{ status: string }>("/healthz")).body.status, "ok");
    const id = await podman(["exec", RUN, "id", "-u"]);
    assert.equal(id.stdout.trim(), "1000");
  });

  it("sends SysRq h to the guest and reports the kernel's acknowledgement", async () => {
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", timeoutMs: 5000 });
    assert.equal(res.status, 200);
    const [h] = res.body.results;
    assert.equal(h?.verdict, "acknowledged");
    assert.equal(h?.action, "HELP");
    assert.match(h?.line ?? "", /sysrq: HELP : /);
  });

  it("starts with its own config (the example, its captureDir where user node may write)", async () => {
    // Its own network namespace: the example listens on 127.0.0.1:8420, which the host may be using.
    await podman(["run", "--detach", "--name", RUN_DEFAULT, "--network=none", ...ulimitFlags(), IMAGE]);
    const probe = `
      const end = Date.now() + 30000;
      for (;;) {
        const ok = await fetch("http://127.0.0.1:8420/healthz").then((r) => r.ok, () => false);
        if (ok) process.exit(0);
        if (Date.now() > end) process.exit(1);
        await new Promise((r) => setTimeout(r, 100));
      }`;
    await podman(["exec", RUN_DEFAULT, "node", "--input-type=module", "-e", probe]).catch(
      async (err: unknown) => {
        const logs = await podman(["logs", RUN_DEFAULT]).then((r) => r.stdout + r.stderr, String);
        throw new Error(`${String(err)}; the container's log:\n${logs.slice(-4000)}`);
      },
    );
  });
});
