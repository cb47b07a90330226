/**
 * Load: many clients fire SysRq requests at one port of a real kernel at once, with a queue shorter
 * than the crowd. Every request gets a verdict (200) or 429 QUEUE_FULL with Retry-After; the kernel's
 * own output then shows each acknowledged key's `sysrq:` line exactly once, in the order the daemon
 * answered them, and the capture index never shows two BREAKs without a key between them.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { flushedRaw, lineText, readIndex } from "../helpers/capture-index.js";
import type { SysrqBody } from "../helpers/http.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";

const CLIENTS = 40;
const QUEUE_LIMIT = 6;
const LOAD_MS = 8000;
/** Each prints exactly one `sysrq:` line of its own (9 would print two: Changing Loglevel, Loglevel set). */
const KEYS = ["h", "m", "w"] as const;
const HEADER: Record<string, RegExp> = {
  h: /sysrq: HELP/,
  m: /sysrq: Show Memory/,
  w: /sysrq: Show Blocked State/,
};

interface Acknowledged {
  readonly key: string;
  /** The kernel's line as the daemon matched it (printk timestamp stripped). */
  readonly line: string;
  /** When the client had the answer (performance.now()). */
  readonly at: number;
}

/** One client: fires until the deadline, honouring Retry-After; returns what was acknowledged, in order. */
async function fire(
  target: Target,
  client: number,
  deadline: number,
  refused: { count: number },
): Promise<Acknowledged[]> {
  const acknowledged: Acknowledged[] = [];
  for (let n = 0; Date.now() < deadline; n += 1) {
    const key = KEYS[(client + n) % KEYS.length]!;
    const res = await target.api.post<SysrqBody & { code?: string }>("/ports/vm0/sysrq", {
      keys: key,
      settleMs: 0,
    });
    if (res.status === 429) {
      assert.equal(res.body.code, "QUEUE_FULL");
      const retryAfter = Number(res.headers.get("retry-after"));
      assert.ok(retryAfter >= 1, "429 says when to retry");
      refused.count += 1;
      await new Promise((r) => setTimeout(r, retryAfter * 1000 * (1 + Math.random() / 2)));
      continue;
    }
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [result] = res.body.results;
    assert.equal(result?.key, key);
    assert.equal(result.verdict, "acknowledged", JSON.stringify(result));
    acknowledged.push({ key, line: result.line ?? "", at: performance.now() });
  }
  return acknowledged;
}

describe(
  "many clients, one port of a real kernel",
  { skip: requireTools("qemu-system-x86_64", "cpio", "busybox"), timeout: 120_000 },
  () => {
    let target: Target | undefined;
    before(async () => {
      target = await startTarget(["sysctl.kernel.sysrq=1"], [], { port: { queueLimit: QUEUE_LIMIT } });
    });
    after(() => stopTarget(target));

    it("answers each request with a verdict or QUEUE_FULL; the kernel ran each acknowledged key once, in order", async (ctx) => {
      const t = target!;
      const capture = t.daemon.ports.get("vm0").capture;
      const offset = capture.size;
      const indexFrom = (await readIndex(capture)).length;
      const refused = { count: 0 };
      const deadline = Date.now() + LOAD_MS;
      const perClient = await Promise.all(
        Array.from({ length: CLIENTS }, (_, client) => fire(t, client, deadline, refused)),
      );
      const acknowledged = perClient.flat().sort((a, b) => a.at - b.at);
      assert.ok(refused.count > 0, "the queue limit was reached");
      assert.ok(acknowledged.length > QUEUE_LIMIT, `${acknowledged.length} keys acknowledged`);
      ctx.diagnostic(
        `${acknowledged.length} keys acknowledged, ${refused.count} requests refused QUEUE_FULL`,
      );
      await new Promise((r) => setTimeout(r, 500));

      // The kernel's lines, counted in the daemon's capture: each acknowledged key once, in answer order.
      const raw = await flushedRaw(capture);
      const captured = raw
        .subarray(offset)
        .toString("latin1")
        .split(/\r?\n/)
        .filter((l) => l.includes("sysrq:"));
      assert.equal(captured.length, acknowledged.length, "one sysrq: line per acknowledged key");
      assert.deepEqual(
        captured.map((l) => l.replace(/^\[[ \d.]+\] /, "").trim()),
        acknowledged.map((a) => a.line.trim()),
        "the kernel's lines in the order the daemon answered",
      );
      for (const [i, a] of acknowledged.entries()) assert.match(captured[i]!, HEADER[a.key]!);

      // QEMU's own record of the guest's output agrees (no sysrq: line before this test's).
      const logged = (await readFile(t.guest.logfile, "latin1"))
        .split(/\r?\n/)
        .filter((l) => l.includes("sysrq:"));
      assert.equal(logged.length, acknowledged.length, "QEMU's logfile holds the same count");

      // The index: every BREAK is followed by its key's line before the next BREAK.
      const events = (await readIndex(capture)).slice(indexFrom).flatMap((r) => {
        if (r.kind === "break") return ["BREAK"];
        if (r.kind === "line" && lineText(raw, r).includes("sysrq:")) return ["KEY"];
        return [];
      });
      assert.equal(events.filter((e) => e === "BREAK").length, acknowledged.length, "one BREAK per key");
      assert.equal(
        events.join(" "),
        Array(acknowledged.length).fill("BREAK KEY").join(" "),
        "never two BREAKs in a row",
      );
    });
  },
);
