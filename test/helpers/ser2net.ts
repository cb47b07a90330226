/**
 * A real ser2net serving one device (a socat pty end) over telnet on 127.0.0.1, restartable on the same
 * address; the config of one serving it as RFC 2217 (run under strace by its callers); a daemon on it,
 * and the whole rig (pty pair, ser2net, daemon) that the telnet-mode tests stand up.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Daemon } from "../../src/daemon/daemon.js";
import { freeTcpPort } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "./daemon.js";
import { TargetSide, startPtyPair, type PtyPair } from "./socat.js";

export interface Ser2netOptions {
  /** The device ser2net opens (the daemon side of a socat pty pair). */
  readonly device: string;
  /** Where ser2net's config file goes. */
  readonly dir: string;
  /** TCP port to listen on; default: a free one. */
  readonly port?: number;
}

export interface Ser2net {
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGKILL, resolved once the process is gone (its listening socket with it). */
  kill(): Promise<void>;
}

export async function startSer2net(options: Ser2netOptions): Promise<Ser2net> {
  const port = options.port ?? (await freeTcpPort());
  const config = path.join(options.dir, `ser2net-${port}.yaml`);
  await writeFile(
    config,
    [
      "connection: &con0",
      `  accepter: telnet(rfc2217=false),tcp,127.0.0.1,${port}`,
      `  connector: serialdev,${options.device},115200n81,local`,
      "  options:",
      "    kickolduser: true",
      "",
    ].join("\n"),
  );
  const child = spawn("ser2net", ["-n", "-d", "-c", config], { stdio: "ignore" });
  return {
    port,
    process: child,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

/** An in-process daemon whose port ts0 is a standard-mode telnet client of `ser2net`, once negotiated. */
export async function startSer2netDaemon(ser2net: Ser2net): Promise<Daemon & { captureDir: string }> {
  const daemon = await startTestDaemon({
    ports: [
      { id: "ts0", transport: { kind: "telnet", host: "127.0.0.1", port: ser2net.port, mode: "standard" } },
    ],
  });
  await waitUntil(() => daemon.ports.get("ts0").info().state === "open", 10_000, "connected to ser2net");
  await new Promise((r) => setTimeout(r, 300)); // let the option negotiation finish
  return daemon;
}

/** Writes `dir`/ser2net.yaml, serving `device` as RFC 2217 (9600n81) on 127.0.0.1:`port`; its path. */
export async function writeRfc2217Config(dir: string, device: string, port: number): Promise<string> {
  const config = path.join(dir, "ser2net.yaml");
  await writeFile(
    config,
    [
      "connection: &con0",
      `  accepter: telnet(rfc2217),tcp,127.0.0.1,${port}`,
      `  connector: serialdev,${device},9600n81,local`,
      "",
    ].join("\n"),
  );
  return config;
}

/** A socat pty pair in a new temporary folder, ser2net on its device end, a daemon on ser2net (port ts0). */
export interface Ser2netRig {
  readonly dir: string;
  readonly pair: PtyPair;
  readonly ser2net: Ser2net;
  readonly target: TargetSide;
  readonly daemon: Daemon & { captureDir: string };
}

export async function startSer2netRig(tmpPrefix: string): Promise<Ser2netRig> {
  const dir = await mkdtemp(path.join(os.tmpdir(), tmpPrefix));
  const pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
  const ser2net = await startSer2net({ device: pair.daemonSide, dir });
  const target = new TargetSide(pair.targetSide);
  const daemon = await startSer2netDaemon(ser2net);
  return { dir, pair, ser2net, target, daemon };
}

/** Stops what a rig's test holds now (a test may have restarted ser2net); parts never started are skipped. */
export async function stopSer2netRig(rig: {
  readonly daemon?: Daemon;
  readonly target?: TargetSide;
  readonly ser2net?: Ser2net;
  readonly pair?: PtyPair;
}): Promise<void> {
  await rig.daemon?.close();
  rig.target?.close();
  await rig.ser2net?.kill();
  await rig.pair?.stop();
}
