/** The command power channel against real programs: no shell, a deadline, bounded output. */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { PowerChannelError } from "../../../src/control/power-channel.js";
import { COMMAND_OUTPUT_LIMIT, commandPowerChannel } from "../../../src/control/power-command.js";

const sh = (script: string) => ["sh", "-c", script];

async function failure(promise: Promise<unknown>): Promise<PowerChannelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof PowerChannelError, String(err));
    return err;
  }
  assert.fail("the action succeeded");
}

describe("command power channel", () => {
  it("runs the argv with no shell and keeps its output", async () => {
    const channel = commandPowerChannel({
      kind: "command",
      cycle: ["echo", "$HOME;", "done"],
      timeoutMs: 5000,
    });
    assert.deepEqual(channel.actions, ["cycle"]);
    const outcome = await channel.run("cycle");
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.stdout, "$HOME; done\n", "no shell expanded or split anything");
    assert.deepEqual(outcome.steps, ["echo $HOME; done"]);
  });

  it("a non-zero exit, a missing program and an action with no command are failures with evidence", async () => {
    const channel = commandPowerChannel({
      kind: "command",
      off: sh("echo relay offline >&2; exit 3"),
      on: ["/nonexistent/relay"],
      timeoutMs: 5000,
    });
    const off = await failure(channel.run("off"));
    assert.match(off.message, /exited with status 3/);
    assert.equal(off.outcome.exitCode, 3);
    assert.equal(off.outcome.stderr, "relay offline\n");
    assert.match((await failure(channel.run("on"))).message, /cannot run \/nonexistent\/relay: .*ENOENT/);
    assert.match((await failure(channel.run("cycle"))).message, /no `cycle` command/);
  });

  it("kills the whole process group past timeoutMs", async () => {
    const channel = commandPowerChannel({
      kind: "command",
      reset: sh("sleep 30 & echo started; wait"),
      timeoutMs: 300,
    });
    const started = Date.now();
    const err = await failure(channel.run("reset"));
    assert.ok(Date.now() - started < 5000, "did not wait for the child's child");
    assert.match(err.message, /did not finish within 300 ms; killed/);
    assert.equal(err.outcome.stdout, "started\n");
  });

  it("keeps only the first COMMAND_OUTPUT_LIMIT bytes of a flood and says how much it dropped", async () => {
    const channel = commandPowerChannel({
      kind: "command",
      cycle: sh("head -c 1000000 /dev/zero | tr '\\0' x"),
      timeoutMs: 10_000,
    });
    const outcome = await channel.run("cycle");
    const stdout = outcome.stdout ?? "";
    assert.ok(stdout.startsWith("x".repeat(COMMAND_OUTPUT_LIMIT)));
    assert.match(stdout, new RegExp(`\\[${1_000_000 - COMMAND_OUTPUT_LIMIT} more bytes not kept\\]$`));
    assert.ok(stdout.length < COMMAND_OUTPUT_LIMIT + 100);
  });

  it("an abort (the daemon stopping) kills the whole process group at once; an aborted signal runs nothing", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-power-abort-"));
    const pidFile = path.join(dir, "grandchild");
    const channel = commandPowerChannel({
      kind: "command",
      cycle: sh(`sleep 60 & echo $! > ${pidFile}; wait`),
      timeoutMs: 120_000,
    });
    const stop = new AbortController();
    const running = failure(channel.run("cycle", { signal: stop.signal }));
    let pid = 0;
    for (let i = 0; i < 100 && pid === 0; i += 1) {
      pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || 0;
      if (pid === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(pid > 0, "the grandchild started");
    const started = Date.now();
    stop.abort();
    const err = await running;
    assert.ok(Date.now() - started < 2000, `ended ${Date.now() - started} ms after the abort`);
    assert.match(err.message, /killed: the daemon is stopping/);
    const gone = async (): Promise<boolean> => {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      return stat === "" || / Z /.test(stat.slice(stat.lastIndexOf(")")));
    };
    for (let i = 0; i < 50 && !(await gone()); i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.ok(await gone(), `the grandchild ${pid} (same process group) is gone`);
    const refused = await failure(channel.run("cycle", { signal: stop.signal }));
    assert.match(refused.message, /not run: the daemon is stopping/);
  });
});
