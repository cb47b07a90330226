/**
 * A `kill -9` while a line waits for its LF: the real daemon (dist/main.js) has written `M43` to the raw
 * file, and would have indexed it as a partial line after 100 ms of quiet, but dies first. The next
 * daemon's first read is `10\n`: without a record of its own, `M43` would read as the start of that
 * line (`M4310`). Also: the capture files and their directory are the daemon's user's only (0600 and
 * 0700, like the audit log).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { freeTcpPort } from "../kit/index.js";
import { bin, listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";

const procs: BinProcess[] = [];
const servers: Server[] = [];

describe("capture after kill -9 mid-line", { skip: !existsSync(bin) && "npm run build first" }, () => {
  after(async () => {
    for (const proc of procs) proc.child.kill("SIGKILL");
    for (const server of servers) server.close();
  });

  it("gives the cut line a record of its own at start-up, and keeps the files 0600 in a 0700 directory", async () => {
    // Killing the daemon inside the 100 ms before it indexes M43 is a race a loaded machine can lose:
    // then nothing was staged, and the stage is set again (a fresh directory and target).
    let staged: Awaited<ReturnType<typeof killMidLine>> = null;
    for (let attempt = 1; attempt <= 5 && !staged; attempt += 1) staged = await killMidLine();
    assert.ok(staged, "M43 had a record before every one of 5 kills: the race was never won");
    const { dir, raw, index, config, httpPort } = staged;

    const second = run(["--config", config]);
    procs.push(second);
    await listening(second, httpPort);
    await waitUntil(
      async () => /"seq":\d+,"ts":"[^"]+","off":9,/.test(await readFile(index, "utf8")),
      10_000,
      "the record of the line after the restart",
    );
    const records = (await readFile(index, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const lines = records.filter((r) => typeof r["seq"] === "number");
    const cut = lines.find((r) => r["off"] === 6);
    assert.deepEqual(
      cut && [cut["len"], cut["partial"]],
      [3, true],
      `M43 is a partial line of its own: ${JSON.stringify(lines)}`,
    );
    assert.ok(cut);
    const next = lines.find((r) => r["off"] === 9);
    assert.ok(next && next["len"] === 3 && next["partial"] === undefined, "10 is a line of its own");
    assert.ok((next["seq"] as number) > (cut["seq"] as number), "and comes after it");
    assert.equal(await readFile(raw, "latin1"), "hello\nM4310\n", "the raw file stays the bytes as read");
    const log = (await (await fetch(`http://127.0.0.1:${httpPort}/ports/vm0/log?since=0`)).json()) as {
      lines: { text: string }[];
    };
    assert.ok(!log.lines.some((l) => l.text.includes("M4310")), "no line reads M4310");

    assert.equal((await stat(dir)).mode & 0o777, 0o700, "the capture directory is 0700");
    for (const file of [raw, index]) assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is 0600`);
  });
});

/**
 * Starts the built daemon against a target that sends `hello\nM43`, kills it once M43 is on disk, and
 * gives the next connection `10\n`. Null when M43 was indexed before the kill landed.
 */
async function killMidLine(): Promise<{
  dir: string;
  raw: string;
  index: string;
  config: string;
  httpPort: number;
} | null> {
  const root = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-killtail-"));
  const dir = path.join(root, "captures");
  const [targetPort, httpPort] = [await freeTcpPort(), await freeTcpPort()];
  // The target: what each new connection is sent, in turn.
  const sends = [Buffer.from("hello\nM43"), Buffer.from("10\n")];
  let connected: Socket | undefined;
  const server = createServer((socket) => {
    connected = socket;
    socket.on("error", () => undefined);
    const next = sends.shift();
    if (next) socket.write(next);
  });
  await new Promise<void>((resolve) => server.listen(targetPort, "127.0.0.1", resolve));
  const config = path.join(root, "config.yaml");
  await writeFile(
    config,
    `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ${dir}\nlog: { level: warn }\n` +
      `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${targetPort} }\n`,
  );
  const raw = path.join(dir, "vm0.raw");
  const index = path.join(dir, "vm0.index.jsonl");

  const first = run(["--config", config]);
  procs.push(first);
  servers.push(server);
  await listening(first, httpPort);
  // Killed as soon as the cut line is on disk, well within the 100 ms before it would be indexed.
  await waitUntil(
    async () => existsSync(raw) && (await readFile(raw, "latin1")).endsWith("M43"),
    10_000,
    "M43 in the raw file",
  );
  first.child.kill("SIGKILL");
  await first.exited;
  connected?.destroy();
  const before = await readFile(index, "utf8");
  if (before.includes('"off":6,')) return null;
  return { dir, raw, index, config, httpPort };
}
