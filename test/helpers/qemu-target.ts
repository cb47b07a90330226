/**
 * A daemon attached to a real Linux guest under QEMU (test/kit/guest.ts) over a telnet chardev,
 * started in the order a lab sees: daemon first, then the guest. Returns once the shell prompt is quiet.
 */
import assert from "node:assert/strict";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { startTestDaemon } from "./daemon.js";
import { client, type LogBody } from "./http.js";

export interface Target {
  daemon: Daemon & { captureDir: string };
  guest: Guest;
  api: ReturnType<typeof client>;
}

export interface TargetOptions {
  /** More keys of the port's config (sysrqMask, ...); the port is always vm0 on the guest's chardev. */
  readonly port?: Record<string, unknown>;
  /** Let the guest reboot in place (QEMU without -no-reboot). */
  readonly reboot?: boolean;
  /** Makes `daemon.reload()` work: vm0's keys (as `port`) it reads then. */
  readonly portOnReload?: () => Record<string, unknown>;
}

export async function startTarget(
  append: string[],
  extraArgs: string[] = [],
  options: TargetOptions = {},
): Promise<Target> {
  const telnetPort = await freeTcpPort();
  const vm0 = (keys: Record<string, unknown> | undefined) => ({
    id: "vm0",
    transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
    ...keys,
  });
  const portOnReload = options.portOnReload;
  const daemon = await startTestDaemon({
    listen: true,
    ports: [vm0(options.port)],
    ...(portOnReload ? { reloadPorts: () => [vm0(portOnReload())] } : {}),
  });
  const guest = await startGuest({ telnetPort, append, extraArgs, reboot: options.reboot === true });
  const api = client(daemon.url);
  const ready = await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
  assert.equal(ready.body.lines.length, 1, "guest printed its ready marker");
  await waitForPrompt(api);
  return { daemon, guest, api };
}

/** Waits until the shell has printed its prompt and gone quiet. */
export async function waitForPrompt(api: ReturnType<typeof client>): Promise<void> {
  await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
  await new Promise((r) => setTimeout(r, 300));
}

export async function stopTarget(target: Target | undefined): Promise<void> {
  await target?.daemon.close();
  await target?.guest.stop();
}
