/**
 * User regexes against the real daemon binary: the patterns that froze it ((.|.)*Z on a 30-character
 * line blocked the event loop for good), RE2's costliest accepted programs over a log of long lines,
 * and generated patterns. Every answer is 200 or 400 VALIDATION within a deadline, /healthz answers
 * throughout, and a long-poll with a pathological pattern still wakes on its line.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freeTcpPort } from "../kit/index.js";
import { listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { random, type Random } from "../helpers/random.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat");
const SEED = Number(process.env["FUZZ_SEED"] ?? 20261207);
const GENERATED = 150;
const LONG_LINES = 400;
/** Per request: the scan budget is 2 s of matching, four requests share two busy cores. */
const ANSWER_MS = 20_000;

const PATHOLOGICAL = [
  "(.|.)*Z",
  "^(a|a)*Z",
  "(a|aa)*b",
  "a*a*a*a*a*a*b",
  "(a+)+$",
  "(x+x+)+y",
  "(\\w+\\s?)*$",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  ".{0,145}.{0,145}Y!",
  "(?i)(\\w+\\s*){0,80}ZZZ",
  "[a-q][^u-z]{290}x",
  ".{0,1000}.{0,1000}Y!", // too large a program: refused
  "(a)\\1", // backreference: refused
  "(?=a)b", // lookahead: refused
  "(?<!a)b", // lookbehind: refused
];

/** Half well-formed (nested groups, alternations and repeats: the shapes that backtrack), half token soup. */
function generatedPattern(r: Random): string {
  const atoms = ["a", "Z", ".", "\\d", "\\w", "\\s", "[a-z]", "[^x]", "\\p{L}", "[[:alpha:]]", "é", "!"];
  const repeats = ["", "", "*", "+", "?", "*?", "{2,5}", "{0,9}", "{3}"];
  const expr = (depth: number): string => {
    const branches = Array.from({ length: r.int(3) + 1 }, () => {
      let branch = "";
      for (let i = r.int(4) + 1; i > 0; i -= 1) {
        const atom =
          depth > 0 && r.int(3) === 0 ? `(${r.pick(["", "?:", "?i:"])}${expr(depth - 1)})` : r.pick(atoms);
        branch += atom + r.pick(repeats);
      }
      return branch;
    });
    return branches.join("|");
  };
  if (r.int(2) === 0) return `${r.pick(["", "^", "(?i)"])}${expr(3)}${r.pick(["", "$", "Z"])}`;
  const tokens = [
    "a",
    "Z",
    ".",
    "\\d",
    "\\w",
    "[a-z]",
    "(",
    "(?:",
    ")",
    "|",
    "*",
    "+",
    "?",
    "{2,5}",
    "{1000}",
    "^",
    "$",
    "\\b",
    "(?i)",
    "\\1",
    "(?=",
    "(?!",
    "(?<=",
    "\\",
    "[",
    "]",
    "{",
    "}",
    "(?P<n>",
    "\\x{41}",
    "\\Q*\\E",
  ];
  let pattern = "";
  for (let i = r.int(24) + 1; i > 0; i -= 1) pattern += r.pick(tokens);
  return pattern;
}

interface Answer {
  readonly status: number;
  readonly body: { code?: string; message?: string; lines?: unknown[] };
  readonly ms: number;
}

async function logQuery(port: number, query: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/ports/pty0/log?${query}`, {
    signal: AbortSignal.timeout(ANSWER_MS),
  });
  const body = (await res.json()) as Answer["body"];
  return { status: res.status, body, ms: performance.now() - started };
}

describe("user regexes against the real daemon", { skip }, () => {
  let dir: string;
  let pair: PtyPair;
  let target: TargetSide;
  let daemon: BinProcess;
  let httpPort: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-fuzz-regex-"));
    pair = await startPtyPair(path.join(dir, "ttyA"), path.join(dir, "ttyB"));
    target = new TargetSide(pair.targetSide);
    httpPort = await freeTcpPort();
    const config = {
      listen: { host: "127.0.0.1", port: httpPort },
      captureDir: "./cap",
      log: { level: "warn" },
      rateLimit: { max: 1_000_000 },
      ports: [{ id: "pty0", transport: { kind: "tty", path: pair.daemonSide } }],
    };
    await writeFile(path.join(dir, "config.yaml"), JSON.stringify(config));
    daemon = run(["--config", path.join(dir, "config.yaml")]);
    await listening(daemon, httpPort);
    const lines = [`${"a".repeat(30)}\n`];
    const long = "abcdefghijklmnopqrstuvwxyz0123456789 ZQ!ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(121);
    for (let i = 0; i < LONG_LINES; i += 1) lines.push(`${long.slice(i % 60, (i % 60) + 8000)}\n`);
    lines.push("a".repeat(30), "\n", "login: \n");
    await waitUntil(
      () =>
        fetch(`http://127.0.0.1:${httpPort}/ports/pty0`).then(
          async (r) => ((await r.json()) as { state: string }).state === "open",
          () => false,
        ),
      10_000,
      "pty0 open",
    );
    for (const line of lines) target.write(Buffer.from(line));
    await waitUntil(
      async () => (await logQuery(httpPort, "match=login:")).body.lines?.length === 1,
      20_000,
      "the console lines in the log",
    );
  });
  after(async () => {
    daemon.child.kill("SIGKILL");
    target.close();
    await pair.stop();
  });

  it("answers known-pathological and generated patterns with 200 or 400 VALIDATION, /healthz meanwhile", async (t) => {
    const r = random(SEED);
    const patterns = [...PATHOLOGICAL, ...Array.from({ length: GENERATED }, () => generatedPattern(r))];
    let worstHealth = 0;
    let healthChecks = 0;
    let stop = false;
    const health = (async () => {
      while (!stop) {
        const started = performance.now();
        const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, {
          signal: AbortSignal.timeout(10_000),
        });
        assert.equal(res.status, 200);
        worstHealth = Math.max(worstHealth, performance.now() - started);
        healthChecks += 1;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const wrong: string[] = [];
    const outcomes = new Map<string, number>();
    let index = 0;
    let slowest = 0;
    const worker = async (): Promise<void> => {
      while (index < patterns.length) {
        const pattern = patterns[index++] as string;
        const answer = await logQuery(httpPort, `limit=10000&match=${encodeURIComponent(pattern)}`).catch(
          (err: Error): Answer => ({ status: -1, body: { message: err.message }, ms: ANSWER_MS }),
        );
        const outcome = answer.status === 200 ? "200" : `${answer.status} ${answer.body.code ?? ""}`;
        slowest = Math.max(slowest, answer.ms);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const validation = answer.status === 400 && answer.body.code === "VALIDATION";
        if (answer.status !== 200 && !validation) wrong.push(`${JSON.stringify(pattern)}: ${outcome}`);
        if (validation) assert.match(answer.body.message ?? "", /match/, `${pattern}: the error names match`);
      }
    };
    try {
      await Promise.all(Array.from({ length: 4 }, worker));
    } finally {
      stop = true;
      await health;
    }
    t.diagnostic(
      `outcomes ${JSON.stringify([...outcomes])}; slowest answer ${slowest.toFixed(0)} ms; ` +
        `slowest /healthz ${worstHealth.toFixed(0)} ms of ${healthChecks}`,
    );
    assert.deepEqual(wrong, [], `every answer is 200 or 400 VALIDATION (seed ${SEED})`);
    assert.ok(
      (outcomes.get("200") ?? 0) > 10 && (outcomes.get("400 VALIDATION") ?? 0) > 10,
      String([...outcomes]),
    );
    assert.ok(healthChecks > 5, `${healthChecks} health checks ran`);
    assert.ok(worstHealth < 3000, `the slowest /healthz took ${worstHealth.toFixed(0)} ms`);
    assert.equal(daemon.child.exitCode, null, "the daemon is still running");
  });

  it("refuses what RE2 cannot run as 400 VALIDATION naming match", async () => {
    for (const pattern of ["(a)\\1", "(?=a)b", "(?<=a)b", ".{0,1000}.{0,1000}Y!"]) {
      const answer = await logQuery(httpPort, `match=${encodeURIComponent(pattern)}`);
      assert.equal(answer.status, 400, pattern);
      assert.equal(answer.body.code, "VALIDATION");
      assert.match(answer.body.message ?? "", /^match /);
    }
  });

  it("finds the line a pathological pattern matches, and a long-poll with one wakes on its line", async () => {
    const found = await logQuery(httpPort, `limit=10000&match=${encodeURIComponent("^(a|a)*$")}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.lines?.length, 2, "the two 30-character lines of a");
    const end = (found.body as { next: number }).next;
    const waiting = logQuery(httpPort, `since=${end}&waitMs=15000&match=${encodeURIComponent("(.|.)*Z!")}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    target.write(Buffer.from(`${"a".repeat(30)}\nready Z!\n`));
    const woke = await waiting;
    assert.equal(woke.status, 200);
    assert.deepEqual(
      (woke.body.lines as { text: string }[]).map((line) => line.text),
      ["ready Z!"],
    );
    assert.ok(woke.ms < 10_000, `woke after ${woke.ms.toFixed(0)} ms`);
  });

  // Last: it stops the daemon.
  it("stops on SIGTERM in the middle of costly scans", async () => {
    const pattern = encodeURIComponent(".{0,145}.{0,145}Y!");
    const scans = Array.from({ length: 4 }, () =>
      fetch(`http://127.0.0.1:${httpPort}/ports/pty0/log?limit=10000&match=${pattern}`).then(
        (r) => r.status,
        () => -1,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    daemon.child.kill("SIGTERM");
    const code = await Promise.race([
      daemon.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 10_000)),
    ]);
    assert.equal(code, 0, `exit after SIGTERM (${(performance.now() - started).toFixed(0)} ms)`);
    await Promise.all(scans);
  });
});
