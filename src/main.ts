#!/usr/bin/env node
/**
 * The sysrq-bridge command. `sysrq-bridge --config FILE` runs the daemon; `sysrq-bridge <command>`
 * (send, nmi, break, ports, log, write, console, lease, capture, audit, keys) is its client. Each
 * side is loaded only when asked for, so the client starts without fastify or serialport.
 */
import { isClientCommand } from "./cli/args.js";
import { loadDaemonSide } from "./daemon/daemon-side.js";

async function main(argv: readonly string[]): Promise<number> {
  if (isClientCommand(argv[0])) {
    const { runClientCommand } = await import("./cli/commands.js");
    return runClientCommand(argv);
  }
  const daemon = await loadDaemonSide();
  const code = await daemon.serve(argv);
  if (code === -1) daemon.started();
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code < 0) return;
    process.exitCode = code;
    // Whatever handle a failed start may have left open must not keep the process alive.
    if (code !== 0) setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`sysrq-bridge: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
