/**
 * A private Debian conserver (the daemon, run in the foreground) and its `console` client, driven
 * through a pty from util-linux `script`.
 *
 *   console ─pty─ script ─> conserver master (127.0.0.1:<port>) ─> group child ─telnet─> daemon export
 *
 * conserver writes its pid to a path fixed at build time (Debian: /run/conserver/conserver.pid) and
 * unlinks it on exit; run as root it would overwrite, then delete, a system conserver's pid file. So
 * under root it runs as `nobody`, which cannot write there. It forks one child per group of consoles
 * and, on SIGTERM, signals them and exits without waiting (a child that exits on its own is restarted):
 * its orphans would go to init, which in a container may never reap them. So it runs under
 * subreaper.py, which reaps them and exits once all are gone.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freeTcpPort } from "../kit/index.js";
import { waitUntil } from "./daemon.js";
import { TerminalProgram } from "./terminal-program.js";

// Passed with -c: `nobody` may not be allowed to read the checkout.
const SUBREAPER = readFileSync(fileURLToPath(new URL("./subreaper.py", import.meta.url)), "utf8");

/** `^Ec`, conserver's default client escape (console(1), ESCAPE SEQUENCES). */
export const ESCAPE = "\x05c";

export interface Conserver {
  readonly port: number;
  /** subreaper.py, conserver's parent. */
  readonly process: ChildProcess;
  /** conserver's stderr (its log in the foreground). */
  log(): string;
  /** `console -u`: one line per console with its state (up, down, init). */
  status(): Promise<string>;
  stop(): Promise<void>;
  /** The processes seen under subreaper.py (conserver's master and group children) still there. */
  leftovers(): Promise<number[]>;
}

const run = promisify(execFile);

/** The uid/gid to run conserver as: ourselves, or `nobody` under root (see the header). */
function unprivileged(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string): number => {
    const value = Number(spawnSync("id", [flag, "nobody"], { encoding: "utf8" }).stdout);
    if (!(value > 0)) throw new Error("running as root, and there is no user nobody to run conserver as");
    return value;
  };
  return { uid: id("-u"), gid: id("-g") };
}

/**
 * A process as /proc/<pid>/stat has it: its parent and its start time (fields 4 and 22; counted after
 * the command's closing paren, which may itself hold spaces). pid and start time name one process,
 * even once the pid is reused.
 */
async function readStat(pid: number): Promise<{ ppid: number; start: string } | null> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), start: fields[19] ?? "" };
}

/** Descendants of `pid` with their start times. */
async function descendantsOf(pid: number): Promise<Map<number, string>> {
  const all = new Map<number, { ppid: number; start: string }>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat) all.set(Number(entry), stat);
  }
  const found = new Map<number, string>();
  const visit = (parent: number): void => {
    for (const [child, { ppid, start }] of all) {
      if (ppid !== parent || found.has(child)) continue;
      found.set(child, start);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/**
 * Starts conserver with `consoles` (conserver.cf console blocks) and waits until every console is up.
 * Clients on 127.0.0.1 log in through `dir`/conserver.passwd, where any user has an empty password.
 */
export async function startConserver(dir: string, consoles: string): Promise<Conserver> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(dir, consoles, await freeTcpPort());
    } catch (err) {
      // Another process took the free port before conserver bound it ("Master(): listen(): Bad file
      // descriptor" is how 8.2.7 reports a failed bind): try another.
      if (attempt === 3 || !/Master\(\): (bind|listen)/.test((err as Error).message)) throw err;
    }
  }
}

async function launch(dir: string, consoles: string, port: number): Promise<Conserver> {
  const cf = path.join(dir, "conserver.cf");
  const passwd = path.join(dir, "conserver.passwd");
  await writeFile(cf, ["access * { allowed 127.0.0.1; }", consoles, ""].join("\n"));
  await writeFile(passwd, "*any*:\n");
  const user = unprivileged();
  if (user) await Promise.all([chmod(dir, 0o755), chmod(cf, 0o644), chmod(passwd, 0o644)]);
  // -E: plain TCP between console and conserver (both are built with OpenSSL and would otherwise
  // require it); -M/-p: the master on 127.0.0.1:<port>, its children on ports the OS picks.
  const args = ["-C", cf, "-P", passwd, "-M", "127.0.0.1", "-p", String(port), "-E"];
  const child = spawn("/usr/bin/python3", ["-c", SUBREAPER, "conserver", ...args], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
    ...(user ?? {}),
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  // "close": the process has exited and its stderr is read to the end.
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const seen = new Map<number, string>();
  const track = async (): Promise<number[]> => {
    const found = child.pid === undefined ? new Map<number, string>() : await descendantsOf(child.pid);
    for (const [pid, start] of found) seen.set(pid, start);
    return [...found.keys()];
  };
  const status = async (): Promise<string> =>
    (await run("console", [...clientArgs(port), "-u"], { env: clientEnv(dir), timeout: 5000 })).stdout;
  const conserver: Conserver = {
    port,
    process: child,
    log: () => stderr,
    status,
    async leftovers() {
      const left: number[] = [];
      for (const [pid, start] of seen) if ((await readStat(pid))?.start === start) left.push(pid);
      return left;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return await exited;
      await track();
      child.kill("SIGTERM"); // passed on to conserver's master, which passes it on to its children
      const done = await Promise.race([
        exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000)),
      ]);
      if (!done) {
        for (const pid of await track()) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
        await exited; // the subreaper reaps them, then exits
      }
    },
  };
  // Up once conserver has connected to every console's target; until then `console -u` fails (no
  // master yet) or lists them as down or init. Polled every 100 ms: each poll is a `console` run.
  let last = "";
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`conserver exited ${child.exitCode}`);
        await track();
        last = await status().catch((err: unknown) => String(err));
        const lines = last.trim().split("\n");
        if (lines.every((line) => /^\s*\S+\s+up\s/.test(line))) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
        return false;
      },
      10_000,
      "conserver's consoles up",
    );
  } catch (err) {
    await conserver.stop();
    throw new Error(`${(err as Error).message}\nconsole -u: ${last}\nconserver: ${stderr}`, { cause: err });
  }
  return conserver;
}

/** Arguments every `console` call takes: only our conserver, no TLS, no system-wide console.cf. */
function clientArgs(port: number): string[] {
  return ["-n", "-E", "-M", "127.0.0.1", "-p", String(port)];
}

/** HOME is the temp dir, so no ~/.consolerc of the user running the tests applies. */
function clientEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: dir };
}

/** `console <name>` attached read-write, on a pty (it puts its terminal in raw mode). */
export class ConsoleClient extends TerminalProgram {
  constructor(conserver: Conserver, dir: string, name: string) {
    super(["console", ...clientArgs(conserver.port), name].join(" "), "console", clientEnv(dir));
  }

  /** `^Ec.` (disconnect), then waits for the client to exit; SIGKILL after 3 s. */
  detach(): Promise<void> {
    return this.leave(`${ESCAPE}.`);
  }
}
