/** A real ser2net serving one device (a socat pty end) over telnet on 127.0.0.1, restartable on the same address. */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { freeTcpPort } from "../kit/index.js";

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
