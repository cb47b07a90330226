/** The client commands' pure parts: argument parsing, ssh-style escapes, exit statuses, output lines. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { DEFAULT_URL, UsageError, parseClientArgs } from "../../../src/cli/args.js";
import { EscapeFilter, type EscapeEvent } from "../../../src/cli/console-escape.js";
import { ExitCode, exitForStatus, exitForVerdict, worst } from "../../../src/cli/exit-codes.js";
import { formatKeyResult, formatLogLine, visible } from "../../../src/cli/output.js";
import { exitForOutcome } from "../../../src/cli/recovery-commands.js";
import { formatIncident, formatIncidentLine } from "../../../src/cli/recovery-output.js";
import type { Incident } from "../../../src/recovery/incidents.js";

const show = (events: EscapeEvent[]): string[] =>
  events.map((e) => (e.kind === "data" ? `data:${e.bytes.toString("latin1")}` : e.kind));

describe("parseClientArgs", () => {
  it("takes the URL and token from flags first, then the environment, then the default", () => {
    const env = { SYSRQ_BRIDGE_URL: "http://lab:1", SYSRQ_BRIDGE_TOKEN: "t-env" };
    assert.equal(parseClientArgs(["ports"], {}).url, DEFAULT_URL);
    assert.equal(parseClientArgs(["ports"], {}).token, undefined);
    assert.deepEqual(
      [parseClientArgs(["ports"], env).url, parseClientArgs(["ports"], env).token],
      ["http://lab:1", "t-env"],
    );
    const flagged = parseClientArgs(["ports", "--url", "https://x:2", "--token", "t-flag"], env);
    assert.deepEqual([flagged.url, flagged.token], ["https://x:2", "t-flag"]);
  });

  it("builds each command with only the options given", () => {
    assert.deepEqual(parseClientArgs(["send", "vm0", "reisub", "--timeout-ms", "5000", "--json"], {}), {
      command: { kind: "send", port: "vm0", keys: "reisub", timeoutMs: 5000 },
      url: DEFAULT_URL,
      token: undefined,
      json: true,
    });
    assert.deepEqual(parseClientArgs(["log", "vm0", "-f"], {}).command, {
      kind: "log",
      port: "vm0",
      follow: true,
      lines: 50,
      raw: false,
    });
    assert.equal(parseClientArgs(["log", "vm0", "--raw"], {}).command.kind === "log", true);
    assert.deepEqual(parseClientArgs(["lease", "take", "vm0", "--ttl-ms", "5000"], {}).command, {
      kind: "lease",
      action: "take",
      port: "vm0",
      ttlMs: 5000,
      takeover: false,
    });
    assert.deepEqual(parseClientArgs(["lease", "release", "vm0", "L1"], {}).command, {
      kind: "lease",
      action: "release",
      port: "vm0",
      leaseId: "L1",
      takeover: false,
    });
    assert.deepEqual(parseClientArgs(["capture", "vm0", "--offset", "10", "--length", "5"], {}).command, {
      kind: "capture",
      port: "vm0",
      offset: 10,
      length: 5,
    });
    assert.deepEqual(parseClientArgs(["audit", "--since", "3", "--port", "vm0"], {}).command, {
      kind: "audit",
      since: 3,
      port: "vm0",
    });
    assert.deepEqual(parseClientArgs(["keys", "vm0"], {}).command, { kind: "keys", port: "vm0" });
    assert.deepEqual(parseClientArgs(["probe", "vm0", "--probe-ms", "1500"], {}).command, {
      kind: "probe",
      port: "vm0",
      probeMs: 1500,
    });
    assert.deepEqual(parseClientArgs(["power", "vm0", "cycle", "--timeout-ms", "9000"], {}).command, {
      kind: "power",
      port: "vm0",
      action: "cycle",
      timeoutMs: 9000,
    });
    assert.deepEqual(parseClientArgs(["recover", "vm0", "--detach"], {}).command, {
      kind: "recover",
      port: "vm0",
      detach: true,
    });
    assert.deepEqual(parseClientArgs(["incidents", "--since", "4", "-f"], {}).command, {
      kind: "incidents",
      since: 4,
      follow: true,
    });
    assert.deepEqual(parseClientArgs(["incidents", "vm0", "--state", "open"], {}).command, {
      kind: "incidents",
      port: "vm0",
      state: "open",
      follow: false,
    });
    assert.deepEqual(parseClientArgs(["incident", "12"], {}).command, { kind: "incident", id: "12" });
    assert.deepEqual(parseClientArgs(["quarantine", "clear", "vm0"], {}).command, {
      kind: "quarantine",
      action: "clear",
      port: "vm0",
    });
    assert.deepEqual(parseClientArgs(["write", "vm0", "root", "--enter"], {}).command, {
      kind: "write",
      port: "vm0",
      text: "root",
      enter: true,
    });
  });

  it("refuses wrong arity, options of another command, bad numbers and URLs", () => {
    for (const argv of [
      ["send", "vm0"],
      ["ports", "extra"],
      ["nmi", "vm0", "--enter"],
      ["send", "vm0", "h", "--timeout-ms", "0"],
      ["send", "vm0", "h", "--settle-ms", "1.5"],
      ["ports", "--url", "ftp://x"],
      ["ports", "--bogus"],
      ["sned", "vm0", "h"],
      ["lease", "grab", "vm0"],
      ["lease", "show", "vm0", "--ttl-ms", "5000"],
      ["lease", "release", "vm0"],
      ["lease", "take", "vm0", "--ttl-ms", "10"],
      ["audit", "--since", "0"],
      ["keys"],
      ["power", "vm0"],
      ["power", "vm0", "explode"],
      ["power", "vm0", "cycle", "--probe-ms", "100"],
      ["probe", "vm0", "--probe-ms", "5"],
      ["recover"],
      ["incidents", "vm0", "vm1"],
      ["incidents", "--state", "gone"],
      ["incident"],
      ["quarantine", "lift", "vm0"],
      ["quarantine", "clear"],
    ]) {
      assert.throws(() => parseClientArgs(argv, {}), UsageError, argv.join(" "));
    }
  });
});

describe("log lines on a terminal", () => {
  it("shows the target's control characters in caret notation unless raw", () => {
    const line = { seq: 1, ts: "t", text: "/ # \x1b[6n\x07bell\x7f\tx\r" };
    assert.equal(visible(line.text), "/ # ^[[6n^Gbell^?\tx");
    assert.equal(formatLogLine(line, false, false), "/ # ^[[6n^Gbell^?\tx");
    assert.equal(formatLogLine(line, false, true), line.text);
    assert.equal(visible("caf\u00e9 \u009b"), "caf\u00e9 M-^\u001b".replace("\u001b", "["));
  });
});

describe("EscapeFilter", () => {
  it("leaves on ~. at the start of a line, and only there", () => {
    const filter = new EscapeFilter();
    assert.deepEqual(show(filter.feed(Buffer.from("a~.b\r"))), ["data:a~.b\r"]);
    assert.deepEqual(show(filter.feed(Buffer.from("~."))), ["leave"]);
  });

  it("holds a ~ across chunks; ~~ sends one ~, ~B a BREAK, ~? the help, anything else both bytes", () => {
    const filter = new EscapeFilter();
    assert.deepEqual(show(filter.feed(Buffer.from("~"))), []);
    assert.deepEqual(show(filter.feed(Buffer.from("B"))), ["break"]);
    assert.deepEqual(show(filter.feed(Buffer.from("~?~~x\n~y"))), ["help", "data:~x\n~y"]);
    assert.deepEqual(show(filter.feed(Buffer.from("\n~~~."))), ["data:\n~~."]);
  });
});

describe("exit status", () => {
  it("maps verdicts and HTTP statuses, and the worst wins", () => {
    assert.deepEqual(
      (["acknowledged", "disabled", "unsupported", "no-response", "skipped", "panic"] as const).map(
        exitForVerdict,
      ),
      [0, 2, 3, 4, 4, 5],
    );
    assert.deepEqual([400, 404, 409, 429, 500, 503].map(exitForStatus), [6, 6, 6, 6, 7, 7]);
    assert.equal(worst([ExitCode.OK, ExitCode.NO_RESPONSE, ExitCode.DISABLED]), ExitCode.NO_RESPONSE);
    assert.equal(worst([]), ExitCode.OK);
  });
});

describe("the recovery commands' exit status and lines", () => {
  it("maps a ladder's outcome: recovered or observed 0, failed 4, quarantined 6", () => {
    assert.deepEqual(
      (["recovered", "observed", "failed", "quarantined", undefined] as const).map(exitForOutcome),
      [ExitCode.OK, ExitCode.OK, ExitCode.NO_RESPONSE, ExitCode.REFUSED, ExitCode.NO_RESPONSE],
    );
  });

  it("shows the target's escape sequences in an incident, never sends them to the terminal", () => {
    const incident: Incident = {
      id: "7",
      port: "vm0",
      kinds: ["panic"],
      state: "closed",
      opened: "2026-12-07T23:00:00.000Z",
      closed: "2026-12-07T23:00:30.000Z",
      trigger: { line: "Kernel panic - not syncing: \x1b[6n", seq: 10, offset: 100 },
      report: ["Kernel panic - not syncing: \x1b[6n", "---[ end Kernel panic ]---"],
      context: ["\x1b]0;title\x07"],
      steps: [
        { step: "power cycle", verdict: "done", output: ["Linux version 6.1"], startedAt: "", ms: 4200 },
      ],
      outcome: "recovered",
      spans: [],
      patterns: [],
      truncated: false,
    };
    assert.equal(
      formatIncidentLine(incident),
      "7  vm0  panic  closed recovered  2026-12-07T23:00:00.000Z  Kernel panic - not syncing: ^[[6n",
    );
    const text = formatIncident(incident);
    assert.ok(!text.includes("\x1b") && !text.includes("\x07"), JSON.stringify(text));
    assert.match(text, /^ {3}power cycle {2}done \(4200 ms\) {2}Linux version 6\.1$/m);
    assert.match(text, /^ {3}\^\[\]0;title\^G$/m);
  });
});

describe("formatKeyResult", () => {
  it("says why a key was not acknowledged", () => {
    assert.equal(
      formatKeyResult({ key: "h", verdict: "acknowledged", action: "HELP", latencyMs: 3.14 }),
      "h  acknowledged  HELP (3.1 ms)",
    );
    assert.equal(
      formatKeyResult({ key: "x", verdict: "unsupported", supported: "bhs" }),
      "x  unsupported; the kernel offers bhs",
    );
    assert.match(
      formatKeyResult({ key: "t", verdict: "disabled", hint: "kernel.sysrq lacks 8" }),
      /^t {2}disabled\n {3}kernel\.sysrq lacks 8$/,
    );
  });
});

describe("the client's import graph", () => {
  it("reaches no daemon module and no package but ws, so the client commands start fast", async () => {
    const root = new URL("../../../src/", import.meta.url);
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = async (file: URL): Promise<void> => {
      if (seen.has(file.pathname)) return;
      seen.add(file.pathname);
      const source = await readFile(file, "utf8");
      // Runtime imports only: `import type` and type-only specifiers vanish from the build.
      for (const [, specifier] of source.matchAll(
        /^(?:import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms,
      )) {
        if (specifier === undefined || specifier.startsWith("node:")) continue;
        if (specifier.startsWith(".")) await visit(new URL(specifier.replace(/\.js$/, ".ts"), file));
        else packages.add(specifier);
      }
    };
    await visit(new URL("cli/commands.ts", root));
    assert.deepEqual([...packages], ["ws"]);
    const modules = [...seen].map((p) => p.slice(root.pathname.length)).sort();
    assert.deepEqual(modules, [
      "api/console/protocol.ts",
      "cli/api-client.ts",
      "cli/args.ts",
      "cli/commands.ts",
      "cli/console-escape.ts",
      "cli/console.ts",
      "cli/event-follow.ts",
      "cli/exit-codes.ts",
      "cli/output.ts",
      "cli/recovery-commands.ts",
      "cli/recovery-output.ts",
      "cli/stop-signal.ts",
      "sysrq/exit-codes.ts",
      "sysrq/format.ts",
      "sysrq/keys.ts",
      "sysrq/verdict.ts",
    ]);
  });
});
