/** `sysrq-bridge --config FILE`: loads the config and runs the daemon until a signal. */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import closeWithGrace from "close-with-grace";
import type { Logger } from "pino";
import { loadConfigFile } from "../config/load.js";
import { startDaemon } from "./daemon.js";
import { BridgeError } from "../errors.js";
import { createRootLogger } from "../logger.js";
import { CLIENT_USAGE } from "../cli/args.js";
import { ExitCode } from "../cli/exit-codes.js";

const USAGE = `usage: sysrq-bridge --config FILE

Attaches to serial consoles and turns HTTP calls into SysRq over a real BREAK.
  -c, --config FILE   YAML configuration (see config/example.yaml)
  -h, --help          this text
  -v, --version       the version

The same command is also the daemon's client:
${CLIENT_USAGE}`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The exit status, or -1 while the daemon runs (it exits on a signal). */
export async function serve(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
      strict: true,
    }).values;
  } catch (err) {
    // A word that is no command (`sysrq-bridge sned vm0 h`) lands here too: name it as such.
    const word = argv[0] !== undefined && !argv[0].startsWith("-") ? argv[0] : undefined;
    const why = word === undefined ? (err as Error).message : `unknown command "${word}"`;
    process.stderr.write(`sysrq-bridge: ${why}\n${USAGE}\n`);
    return ExitCode.USAGE;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (!args.config) {
    process.stderr.write(`sysrq-bridge: --config is required\n${USAGE}\n`);
    return ExitCode.USAGE;
  }
  let config;
  try {
    config = await loadConfigFile(args.config);
  } catch (err) {
    if (err instanceof BridgeError) {
      process.stderr.write(`sysrq-bridge: config error: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const logger = createRootLogger(config.logLevel);
  let daemon;
  try {
    const file = args.config;
    daemon = await startDaemon({ config, logger, loadConfig: () => loadConfigFile(file) });
  } catch (err) {
    // startDaemon has closed whatever it opened (ports, listeners): one line and a non-zero exit.
    logger.flush();
    process.stderr.write(`sysrq-bridge: cannot start: ${startFailure(err)}\n`);
    return err instanceof BridgeError && err.code === "CONFIG_INVALID" ? 78 : 1;
  }
  logger.info({ url: daemon.url, ports: config.ports.map((p) => p.id) }, "sysrq-bridge listening");
  // SIGHUP re-reads the config, as for ser2net and conserver (POST /reload does the same). It also
  // comes when the terminal the daemon was started from goes away: the daemon keeps running.
  let hungUp = false;
  const running = daemon;
  process.on("SIGHUP", () => {
    hungUp = true;
    void running.reloadBySignal("SIGHUP");
  });
  // First SIGTERM/SIGINT: finish in-flight sequences (bounded), flush captures, close ports.
  // A second signal exits at once.
  closeWithGrace({ delay: 15_000, logger, skip: ["SIGHUP"] }, async ({ signal, err }) => {
    if (err) logger.error({ err }, "fatal error, shutting down");
    else logger.info({ signal }, "shutting down");
    await daemon.close(10_000);
    // A terminal that hung up may be gone: exit() would try to restore its modes (see endBySignal).
    const onTerminal = process.stdout.isTTY || process.stderr.isTTY;
    if (signal !== undefined && hungUp && onTerminal) endBySignal(logger, signal);
  });
  return -1;
}

/** One line: a system error's message names the address or file ("listen EADDRINUSE: ... 127.0.0.1:80"). */
function startFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message.split("\n")[0] ?? err.name;
}

/**
 * After the terminal the daemon was started from went away, ends the process the way an unhandled
 * signal would, not through exit(): at exit Node 20 restores the terminal's modes and aborts when
 * that terminal no longer exists (nodejs/node#51519, fixed in later releases), and here the abort
 * then spun in a SIGSEGV loop at 100% of a core instead of ending. Everything is closed and flushed
 * by now; the parent sees "killed by SIGTERM" (or whichever signal it sent).
 */
function endBySignal(logger: Logger, signal: string): void {
  logger.flush();
  process.removeAllListeners(signal); // the default action (terminate) applies again
  process.kill(process.pid, signal);
}
