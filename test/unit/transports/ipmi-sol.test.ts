import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { IpmiSolTransportConfig } from "../../../src/config/types.js";
import { IpmiSolTransport, solArgv, solTarget } from "../../../src/transports/ipmi-sol.js";
import type { TransportClosed, TransportLog } from "../../../src/transports/transport.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "ipmi-sol-"));
const SECRET = "s3cret-pw";

/**
 * A stand-in ipmitool: records argv and whether IPMI_PASSWORD came, prints the banner, then echoes
 * each read of stdin back as "<hex of the read>\n" so a test sees how the bytes were split.
 */
function fakeIpmitool(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${file}.argv"\nprintf '%s' "$IPMI_PASSWORD" > "${file}.pw"\n${body}\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

const ECHO_READS = `printf '[SOL Session operational.  Use ~? for help]\\r\\n'
exec python3 -u -c '
import os, sys
while True:
    b = os.read(0, 4096)
    if not b: break
    sys.stdout.write(b.hex() + "\\n")
'`;

function config(ipmitool: string, extra: Partial<IpmiSolTransportConfig> = {}): IpmiSolTransportConfig {
  return {
    kind: "ipmi-sol",
    host: "127.0.0.1",
    port: 9001,
    username: "ops",
    password: SECRET,
    interface: "lanplus",
    cipherSuite: 3,
    timeoutMs: 5000,
    ipmitool,
    takeover: false,
    ...extra,
  };
}

function recordingLog(): TransportLog & { text: () => string } {
  const lines: string[] = [];
  const push = (details: object, message: string): void =>
    void lines.push(`${message} ${JSON.stringify(details)}`);
  return { text: () => lines.join("\n"), info: push, warn: push, warnOnce: (_k, d, m) => push(d, m) };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const open: IpmiSolTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function start(cfg: IpmiSolTransportConfig, log?: TransportLog) {
  const t = new IpmiSolTransport(cfg, log);
  open.push(t);
  const chunks: Buffer[] = [];
  let close: (info: TransportClosed) => void = () => undefined;
  const closed = new Promise<TransportClosed>((resolve) => (close = resolve));
  await t.open({ data: (c) => chunks.push(c), closed: (i) => close(i) });
  return { t, out: () => Buffer.concat(chunks).toString("latin1"), closed };
}

describe("ipmi-sol transport", () => {
  it("runs ipmitool sol activate with -E: the password only in IPMI_PASSWORD, never argv or target", async () => {
    const tool = fakeIpmitool("argv", ECHO_READS);
    const cfg = config(tool);
    assert.deepEqual(solArgv(cfg).slice(1), [
      ...["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", "9001", "-U", "ops", "-E"],
      ...["sol", "activate"],
    ]);
    const log = recordingLog();
    const { t, out } = await start(cfg, log);
    assert.equal(t.kind, "ipmi-sol");
    assert.equal(t.target, "ipmi-sol://ops@127.0.0.1:9001");
    assert.equal(solTarget(cfg), t.target);
    await until("the child ran", () => existsSync(`${tool}.pw`));
    await t.write(Buffer.from("a"));
    await until("a echoed", () => out().includes("61\n"));
    const argv = readFileSync(`${tool}.argv`, "utf8");
    assert.ok(!argv.includes(SECRET), "no password in argv");
    assert.equal(readFileSync(`${tool}.pw`, "utf8"), SECRET, "the password came in IPMI_PASSWORD");
    assert.ok(!out().includes("SOL Session operational"), "the banner is not captured");
    assert.ok(!log.text().includes(SECRET), "no password in the log");
    assert.equal(t.breakCapability().method, "ipmi-sol");
  });

  it("BREAK: CR first after other bytes, then ~B in a read of its own, then the key apart", async () => {
    const { t, out } = await start(config(fakeIpmitool("brk", ECHO_READS)));
    await t.write(Buffer.from("ls"));
    await until("ls echoed", () => out().includes("6c73\n"));
    await t.sendBreak(250);
    await t.write(Buffer.from("h"));
    await until("the key echoed", () => out().includes("68\n"));
    assert.equal(out(), "6c73\n0d\n7e42\n68\n", "ls | CR | ~B | h, each a read of its own");
  });

  it("BREAK right after CR or at session start: no extra CR (it would become the SysRq key)", async () => {
    const { t, out } = await start(config(fakeIpmitool("brk2", ECHO_READS)));
    await t.sendBreak(250);
    await t.write(Buffer.from("m"));
    await until("m echoed", () => out().includes("6d\n"));
    await t.write(Buffer.from("x\r"));
    await t.sendBreak(250);
    await t.write(Buffer.from("t"));
    await until("t echoed", () => out().includes("74\n"));
    // ~B and the key may share a read here (bytes queued before the child reads): ipmitool sends them
    // after the break all the same; what matters is that no CR was added before either ~B.
    assert.equal(out().replaceAll("\n", ""), "7e426d780d7e4274", "~B m x CR ~B t: no CR added");
  });

  it("'already active on another session': open fails with that reason (never shown open)", async () => {
    const tool = fakeIpmitool(
      "busy",
      "echo 'Info: SOL payload already active on another session' >&2; exit 1",
    );
    const failure = await start(config(tool), recordingLog()).then(
      () => assert.fail("open resolved"),
      (err: unknown) => err as Error & { code?: string },
    );
    assert.equal(failure.code, "SOL_ACTIVE");
    assert.match(failure.message, /SOL payload already active on another session/);
    assert.ok(!failure.message.includes(SECRET), "no password in the reason");
  });

  it("a child that never prints the banner: open fails at the deadline and the child is stopped", async () => {
    const tool = fakeIpmitool("mute", "exec sleep 30");
    const failure = await start(config(tool, { timeoutMs: 300 })).then(
      () => assert.fail("open resolved"),
      (err: unknown) => err as Error & { code?: string },
    );
    assert.equal(failure.code, "ETIMEDOUT");
  });

  it("after the banner, the child's exit is a disconnect the port reconnects from", async () => {
    const tool = fakeIpmitool(
      "quits",
      "printf '[SOL Session operational.  Use ~? for help]\\r\\n'; sleep 0.2; exit 0",
    );
    const { closed } = await start(config(tool));
    const info = await closed;
    assert.equal(info.disconnected, true, "a disconnect");
  });

  it("takeover: runs sol deactivate before sol activate", async () => {
    const tool = fakeIpmitool(
      "take",
      `echo "$*" >> "${path.join(dir, "take.calls")}"; [ "$(eval echo \\$$#)" = deactivate ] && exit 0; ${ECHO_READS}`,
    );
    const { out } = await start(config(tool, { takeover: true }));
    await until(
      "session up",
      () => readFileSync(path.join(dir, "take.calls"), "utf8").split("\n").length > 2,
    );
    const calls = readFileSync(path.join(dir, "take.calls"), "utf8").trim().split("\n");
    assert.deepEqual(
      calls.map((c) => c.split(" ").slice(-2).join(" ")),
      ["sol deactivate", "sol activate"],
      "deactivate first",
    );
    assert.equal(out(), "");
  });
});
