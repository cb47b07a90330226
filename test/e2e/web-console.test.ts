/**
 * The web console in a real browser (Debian chromium via playwright-core) against a real Linux guest
 * under QEMU: typing reaches the shell, SysRq verdicts stream into the dialog, a second viewer sees
 * the same output, a read-only viewer's keystrokes never reach the guest, and every byte value the
 * guest prints reaches the page's socket equal to the capture; recovery: health, probe, a power
 * action asked first, a panic's open incident and its report as text. Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import {
  CHROMIUM,
  launchChromium,
  recordConsoleFrames,
  terminalText,
  waitForTerminalLine,
  type ConsoleFrames,
} from "../helpers/browser.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { client, type LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", CHROMIUM);

const OPERATOR = "web-console-operator-token";
const READER = "web-console-reader-token";
const ADMIN = "web-console-admin-token";
const ARTIFACTS = path.resolve("test-artifacts/web-console");
const README_SCREENSHOT = path.resolve("docs/web-console.png");
const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");

interface Viewer {
  readonly page: Page;
  readonly frames: ConsoleFrames;
}

describe("web console in chromium against a real kernel", { skip, timeout: 180_000 }, () => {
  let daemon: (Daemon & { captureDir: string }) | undefined;
  let guest: Guest | undefined;
  let browser: Browser | undefined;
  let operator: Viewer;
  let reader: Viewer;
  let admin: Viewer;
  const api = () => client(daemon!.url, OPERATOR);
  const adminApi = () => client(daemon!.url, ADMIN);
  /** Script errors and console errors (CSP violations among them) from every page. */
  const problems: string[] = [];

  /** Opens the page, signs in through the token form and waits for the console's hello. */
  async function openViewer(token: string, port = "vm0"): Promise<Viewer> {
    const context = await browser!.newContext({ viewport: { width: 1366, height: 768 } });
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (message) => {
      // Expected: the page's first GET /ports, before the token is entered (401), and xterm reporting
      // the control bytes of the 256-byte test as a parsing error.
      const expected = /status of 401|^xterm\.js: Parsing error/.test(message.text());
      if (message.type() === "error" && !expected) problems.push(`console error: ${message.text()}`);
    });
    const frames = recordConsoleFrames(page);
    await page.goto(`${daemon!.url}/ui/#${port}`);
    await page.getByLabel("Token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await waitUntil(() => frames.messages.some((m) => m["type"] === "hello"), 10_000, "the console's hello");
    return { page, frames };
  }

  before(async () => {
    const telnetPort = await freeTcpPort();
    await mkdir(ARTIFACTS, { recursive: true });
    const qmpSocket = path.join(await mkdtemp(path.join(os.tmpdir(), "sysrq-web-")), "qmp.sock");
    daemon = await startTestDaemon({
      listen: true,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
          // QMP power and a recover block that acts on nothing by itself: the page's buttons drive it.
          qmp: { path: qmpSocket },
          power: { kind: "qmp" },
          recover: { on: [], until: READY_MARKER, untilTimeoutMs: 60_000 },
        },
        // No guest and no recover block: the page must not offer its ladder.
        { id: "plain", transport: { kind: "exec", argv: ["cat"] } },
      ],
      config: {
        auth: {
          tokens: [
            { name: "operator", role: "operate", sha256: sha256(OPERATOR) },
            { name: "reader", role: "read", sha256: sha256(READER) },
            { name: "admin", role: "admin", sha256: sha256(ADMIN) },
          ],
        },
      },
    });
    [guest, browser] = await Promise.all([
      startGuest({
        telnetPort,
        reboot: true, // QMP system_reset reboots in place (with -no-reboot QEMU would exit)
        append: ["panic=0"], // a panicked kernel stays, its incident open
        extraArgs: ["-qmp", `unix:${qmpSocket},server=on,wait=off`],
      }),
      launchChromium(),
    ]);
    await api().get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    await api().get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    [operator, reader, admin] = await Promise.all([
      openViewer(OPERATOR),
      openViewer(READER),
      openViewer(ADMIN),
    ]);
  });

  after(async () => {
    await browser?.close();
    await daemon?.close();
    await guest?.stop();
  });

  it("serves the page with a strict Content-Security-Policy and xterm from npm", async () => {
    const page = await fetch(`${daemon!.url}/ui/`);
    assert.equal(page.status, 200);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(await page.text(), /<script>|\son[a-z]+=/, "no inline script or handler");
    const xterm = await fetch(`${daemon!.url}/ui/vendor/xterm.js`);
    assert.equal(xterm.status, 200);
    assert.match(xterm.headers.get("content-type") ?? "", /javascript/);
    assert.equal((await fetch(`${daemon!.url}/ui/vendor/package.json`)).status, 404, "only the listed files");
    assert.equal((await fetch(`${daemon!.url}/`, { redirect: "manual" })).headers.get("location"), "/ui/");
  });

  it("types `echo hi` into the shell once the writer lease is taken in the page", async () => {
    const { page } = operator;
    // Typing without the lease: an amber warning, gone once the lease is taken.
    await page.locator(".xterm").click();
    await page.keyboard.type("x");
    const notice = page.locator("#notice");
    await page.getByText("Take the writer lease to type").waitFor();
    assert.equal(await notice.getAttribute("data-kind"), "warning");
    const warningColour = await page.evaluate('getComputedStyle(document.getElementById("notice")).color');
    assert.equal(warningColour, "rgb(242, 193, 78)");
    await page.getByRole("button", { name: "Take writer lease" }).click();
    await page.getByText("You hold the writer lease").waitFor();
    await waitUntil(
      async () => !((await notice.textContent()) ?? "").includes("Take the writer lease"),
      5000,
      "the lease notice cleared once the lease is held",
    );
    await page.locator(".xterm").click();
    await page.keyboard.type("echo hi");
    await page.keyboard.press("Enter");
    await waitForTerminalLine(page, (line) => line === "hi", "`hi` in the terminal");
    await waitForTerminalLine(reader.page, (line) => line === "hi", "`hi` in the second viewer's terminal");
  });

  it("sends SysRq h from the dialog by keyboard: acknowledged, and the HELP line shows in both terminals", async () => {
    const { page } = operator;
    // By keyboard alone: the dialog opens with its first key (h, Help) focused.
    await page.getByRole("button", { name: "Send SysRq…" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Send SysRq to vm0" });
    assert.equal(await dialog.locator("#sysrq-title").textContent(), "Send SysRq to vm0");
    assert.equal(await page.locator(":focus").getAttribute("data-key"), "h");
    // The keys come from GET /sysrq/keys: an operate token sees the destructive ones, disabled.
    const reboot = dialog.locator('button[data-key="b"]');
    assert.equal(await reboot.isDisabled(), true);
    assert.match((await reboot.getAttribute("title")) ?? "", /^SysRq b: Resetting \(needs the admin role/);
    await page.keyboard.press("Enter");
    const verdict = dialog.locator('#sysrq-results li[data-key="h"] .verdict');
    await verdict.waitFor({ timeout: 10_000 });
    assert.equal(await verdict.textContent(), "acknowledged");
    await dialog.getByText("1 key settled.").waitFor();
    await waitForTerminalLine(page, (line) => line.includes("sysrq: HELP"), "the HELP line");
    // The keys this kernel's HELP line does not list are shown disabled, saying why; the rest are not.
    const help = (
      await api().get<LogBody>(`/ports/vm0/log?since=0&match=${encodeURIComponent("sysrq: HELP")}`)
    ).body.lines.at(-1)!.text;
    const body = help.slice(help.indexOf("HELP"));
    const offered = new Set([
      "h",
      ...(body.includes("(0-9)") ? "0123456789" : ""),
      ...[...body.matchAll(/\(([0-9A-Za-z])\)/g)].map((m) => m[1]!),
    ]);
    const buttons = await page.evaluate<
      { key: string; role: string; disabled: boolean; title: string }[]
    >(`[...document.querySelectorAll("#sysrq-keys button")].map((n) => ({
      key: n.dataset.key, role: n.dataset.role, disabled: n.disabled, title: n.title,
    }))`);
    const lacking = buttons.filter((b) => !offered.has(b.key));
    assert.ok(lacking.length > 0, `this kernel lacks some key of the table: ${help}`);
    for (const b of lacking) {
      assert.equal(b.disabled, true, b.key);
      assert.match(b.title, new RegExp(`vm0's kernel lacks ${b.key}: its HELP line does not list it`));
    }
    for (const b of buttons.filter((b) => offered.has(b.key) && b.role === "operate"))
      assert.equal(b.disabled, false, `${b.key} is offered and allowed`);
    await page.screenshot({ path: path.join(ARTIFACTS, "sysrq-dialog.png") });
    await page.keyboard.press("Escape");
    await waitForTerminalLine(reader.page, (line) => line.includes("sysrq: HELP"), "HELP for the 2nd viewer");
    await page.screenshot({ path: path.join(ARTIFACTS, "console.png") });
    // The README's picture is refreshed on request only, so a test run leaves the tree clean.
    if (process.env["UPDATE_SCREENSHOTS"] === "1" || !existsSync(README_SCREENSHOT)) {
      await mkdir(path.dirname(README_SCREENSHOT), { recursive: true });
      await copyFile(path.join(ARTIFACTS, "console.png"), README_SCREENSHOT);
    }
    const operatorOutput = operator.frames.output().toString("latin1");
    const readerOutput = reader.frames.output().toString("latin1");
    const from = operatorOutput.indexOf("echo hi");
    assert.ok(
      from >= 0 && readerOutput.includes(operatorOutput.slice(from)),
      "both viewers got the same bytes",
    );
  });

  it("asks in plain words before a destructive key or an NMI, and colours a success green", async () => {
    const { page } = operator;
    await page.getByRole("button", { name: "Send SysRq…" }).click();
    const dialog = page.getByRole("dialog", { name: "Send SysRq to vm0" });
    await dialog.getByLabel("Sequence").fill("b");
    const asked = new Promise<string>((resolve) =>
      page.once("dialog", (confirm) => {
        resolve(confirm.message());
        void confirm.dismiss();
      }),
    );
    await dialog.getByRole("button", { name: "Send sequence" }).click();
    assert.equal(
      await asked,
      "Send b to vm0? SysRq b (Resetting) reboots the target immediately, without syncing or unmounting.",
    );
    await page.keyboard.press("Escape");
    const nmi = await page.evaluate(`import("/ui/keys.js").then((keys) => keys.nmiQuestion("vm0"))`);
    assert.equal(
      nmi,
      "Send an NMI to vm0? A kernel set to panic on NMI (kernel.unknown_nmi_panic or panic_on_io_nmi) will crash.",
    );
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Download capture" }).click();
    await download;
    const notice = page.locator("#notice");
    await page.getByText(/^Capture of vm0: \d+ bytes downloaded\.$/).waitFor();
    assert.equal(await notice.getAttribute("data-kind"), "success");
    assert.equal(
      await page.evaluate('getComputedStyle(document.getElementById("notice")).color'),
      "rgb(95, 207, 128)",
    );
  });

  it("has a favicon: the page links one and /favicon.ico leads to it", async () => {
    const href = await operator.page.locator('link[rel="icon"]').getAttribute("href");
    const linked = await fetch(new URL(href ?? "", `${daemon!.url}/ui/`));
    assert.equal(linked.status, 200);
    assert.match(linked.headers.get("content-type") ?? "", /^image\/svg\+xml/);
    const ico = await fetch(`${daemon!.url}/favicon.ico`);
    assert.equal(ico.status, 200);
    assert.match(ico.headers.get("content-type") ?? "", /^image\/svg\+xml/);
    assert.equal(await ico.text(), await linked.text());
  });

  it("keeps a read-only viewer's keystrokes from the guest, in the page and at the daemon", async () => {
    const { page, frames } = reader;
    assert.equal(await page.getByRole("button", { name: /writer lease/ }).isDisabled(), true);
    const sentBefore = frames.sent.length;
    await page.locator(".xterm").click();
    await page.keyboard.type("echo READONLY-$((6*7))");
    await page.keyboard.press("Enter");
    await page.getByText("This token is read-only").waitFor();
    assert.equal(frames.sent.length, sentBefore, "the page sends no input for a read-only token");
    // A socket the page's own origin opens with the read token and sends input on anyway: the
    // daemon refuses it.
    const refusal = await page.evaluate(`new Promise((resolve) => {
      const socket = new WebSocket("ws://" + location.host + "/ports/vm0/console");
      socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: ${JSON.stringify(READER)} }));
      socket.onmessage = (event) => {
        const message = typeof event.data === "string" ? JSON.parse(event.data) : null;
        if (message?.type === "hello") socket.send(new TextEncoder().encode("echo READONLY-$((6*8))\\r"));
        if (message?.type === "error") resolve(message.code + ": " + message.message);
      };
    })`);
    assert.match(String(refusal), /^FORBIDDEN: typing needs the operate role/);
    await new Promise((r) => setTimeout(r, 500));
    const logged = await readFile(guest!.logfile, "latin1");
    assert.ok(!logged.includes("READONLY"), "the guest never saw the read-only viewer's input");
    assert.ok(!(await terminalText(operator.page)).includes("READONLY"));
  });

  it("delivers all 256 byte values to the page's socket exactly as captured", async () => {
    const { page, frames } = operator;
    const script =
      'echo BYTES-$((1+1))-BEGIN; i=0; while [ $i -lt 256 ]; do printf "\\\\$(printf %o $i)"; i=$((i+1)); done; echo; echo BYTES-$((1+1))-END';
    await page.locator(".xterm").click();
    await page.keyboard.type(script);
    await page.keyboard.press("Enter");
    await waitUntil(() => frames.output().includes("BYTES-2-END"), 20_000, "the bytes' end marker");
    const hello = frames.messages.find((m) => m["type"] === "hello");
    const offset = hello?.["offset"];
    assert.equal(typeof offset, "number");
    const received = frames.output();
    const captured = await fetch(
      `${daemon!.url}/ports/vm0/capture?offset=${String(offset)}&length=${received.length}`,
      { headers: { authorization: `Bearer ${OPERATOR}` } },
    );
    assert.equal(captured.status, 200);
    const bytes = Buffer.from(await captured.arrayBuffer());
    assert.equal(bytes.length, received.length);
    assert.ok(bytes.equals(received), "the socket's bytes equal the capture from the hello's offset");
    const begin = received.lastIndexOf("BYTES-2-BEGIN\r\n");
    const values = received.subarray(begin + "BYTES-2-BEGIN\r\n".length, received.lastIndexOf("BYTES-2-END"));
    for (let b = 0; b < 256; b += 1)
      assert.ok(values.includes(b), `byte 0x${b.toString(16)} reached the page`);
  });

  /** The audit records of an action on vm0 (GET /audit is admin only). */
  async function audited(action: string): Promise<number> {
    const res = await adminApi().get<{ entries: { action: string; port?: string }[] }>("/audit?port=vm0");
    return res.body.entries.filter((e) => e.action === action).length;
  }

  it("shows the port's health, and probe buttons by role: kernel alive", async () => {
    const { page } = admin;
    await page
      .locator('#ports button[data-port="vm0"] .health', { hasText: "health good" })
      .waitFor({ timeout: 10_000 });
    // Roles: the reader may not probe; the operator may probe but not recover or power.
    assert.equal(await reader.page.getByRole("button", { name: "Probe" }).isDisabled(), true);
    assert.equal(await operator.page.getByRole("button", { name: "Probe" }).isDisabled(), false);
    assert.equal(await operator.page.getByRole("button", { name: "Recover…" }).isDisabled(), true);
    assert.equal(await operator.page.getByRole("button", { name: "Reset…" }).isDisabled(), true);
    await operator.page.getByRole("button", { name: "Probe" }).click();
    await operator.page.getByText(/^Probe of vm0: kernel alive, userspace \w+, VM running$/).waitFor({
      timeout: 10_000,
    });
  });

  it("shows a panic's open incident in the list and its report, target text as text", async () => {
    const { page } = admin;
    // The operator's page holds the writer lease; the API write needs it free.
    await operator.page.getByRole("button", { name: "Release writer lease" }).click();
    await operator.page.getByRole("button", { name: "Take writer lease" }).waitFor();
    const written = await api().post("/ports/vm0/write", {
      data: "echo '<b>WEB-BOLD</b><img src=x>'; echo c > /proc/sysrq-trigger\r",
    });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    const open = page.locator("#ports button.incident");
    await open.waitFor({ timeout: 20_000 });
    assert.match((await open.textContent()) ?? "", /^Open incident \d+: panic/);
    await open.click();
    const view = page.getByRole("dialog", { name: /^Incident \d+ on vm0$/ });
    await view.waitFor();
    assert.equal(await view.locator("#incident-kinds").textContent(), "panic");
    assert.equal(await view.locator("#incident-state").textContent(), "open");
    assert.match(
      (await view.locator("#incident-trigger").textContent()) ?? "",
      /Kernel panic|sysrq triggered crash/,
    );
    await waitUntil(
      async () => ((await view.locator("#incident-report").textContent()) ?? "").includes("Kernel panic"),
      15_000,
      "the report in the incident view",
    );
    const context = (await view.locator("#incident-context").textContent()) ?? "";
    assert.ok(context.includes("<b>WEB-BOLD</b><img src=x>"), context);
    assert.equal(await view.locator("b, img").count(), 0, "the target's text is never markup");
    await page.screenshot({ path: path.join(ARTIFACTS, "incident.png") });
    await view.getByRole("button", { name: "Close" }).click();
  });

  // After the panic: a reset through QMP brings the guest back (and needs no shell).
  it("asks before recover or a power reset (cancel sends nothing), then shows the reset's verdict", async () => {
    const { page } = admin;
    /** Clicks `button`, answers the question it asks with `accept`, and returns the question. */
    const ask = async (name: string, accept: boolean) => {
      const asked = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} asked nothing within 5 s`)), 5000);
        page.once("dialog", (confirm) => {
          clearTimeout(timer);
          resolve(confirm.message());
          void (accept ? confirm.accept() : confirm.dismiss());
        });
      });
      await page.getByRole("button", { name }).click();
      return asked;
    };
    const [recovers, powers] = [await audited("recover-request"), await audited("power")];
    assert.equal(
      await ask("Recover…", false),
      "Run vm0's recovery ladder? Its steps may send SysRq keys, an NMI or a power action: the target may reboot without syncing or unmounting.",
    );
    assert.equal(
      await ask("Reset…", false),
      "Power reset vm0? This resets it: it reboots at once, without syncing or unmounting.",
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      [await audited("recover-request"), await audited("power")],
      [recovers, powers],
      "nothing sent",
    );

    await ask("Reset…", true);
    await page.getByText(/^Power reset: done — .*Linux version/).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator("#notice").getAttribute("data-kind"), "success");
    assert.equal(await audited("power"), powers + 1);
  });

  it("follows a recovery live from GET /events: recovering → good and the steps' verdicts, with no polling", async () => {
    const { page } = admin;
    await page.locator('#live-status[data-live="stream"]').waitFor({ timeout: 10_000 });
    // The reset above rebooted the guest: the ladder's reboot waits for this marker again.
    await api().get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    const lists: string[] = [];
    const events: string[] = [];
    const navigations: string[] = [];
    const onRequest = (request: { url(): string }) => {
      const url = new URL(request.url());
      if (url.pathname === "/ports" || url.pathname === "/incidents") lists.push(url.pathname + url.search);
      if (url.pathname === "/events") events.push(url.pathname);
    };
    const onNavigate = (frame: { url(): string }) => navigations.push(frame.url());
    page.on("request", onRequest);
    page.on("framenavigated", onNavigate);
    /** Health as the list shows it, sampled by the page itself on every DOM change. */
    await page.evaluate(`(() => {
      window.__healthSeen = [];
      const seen = () => {
        const text = document.querySelector('#ports button[data-port="vm0"] .health')?.textContent ?? "";
        if (text !== "" && window.__healthSeen.at(-1) !== text) window.__healthSeen.push(text);
      };
      seen();
      new MutationObserver(seen).observe(document.getElementById("ports"), { childList: true, subtree: true });
    })()`);
    page.once("dialog", (confirm) => void confirm.accept());
    await page.getByRole("button", { name: "Recover…" }).click();
    const view = page.getByRole("dialog", { name: /^Incident \d+ on vm0$/ });
    await page
      .locator('#ports button[data-port="vm0"] .health', { hasText: "health recovering" })
      .waitFor({ timeout: 10_000 });
    await view.locator("#incident-outcome", { hasText: "recovered" }).waitFor({ timeout: 90_000 });
    await page
      .locator('#ports button[data-port="vm0"] .health', { hasText: "health good" })
      .waitFor({ timeout: 10_000 });
    const steps = await page.evaluate<[string, string][]>(
      `[...document.querySelectorAll("#incident-steps li")].map((li) => [li.dataset.step ?? "", li.querySelector(".verdict")?.textContent ?? ""])`,
    );
    assert.ok(steps.length >= 2, `the ladder's steps in the view: ${JSON.stringify(steps)}`);
    assert.ok(
      steps.every(([step, verdict]) => step !== "" && verdict !== ""),
      `every step with its verdict: ${JSON.stringify(steps)}`,
    );
    assert.deepEqual(steps.at(-1), ["until", "matched"], `the target back last: ${JSON.stringify(steps)}`);
    const seen = await page.evaluate<string[]>("window.__healthSeen");
    const recovering = seen.indexOf("health recovering");
    assert.ok(
      recovering >= 0 && seen.indexOf("health good", recovering) > recovering,
      `the list went recovering → good: ${JSON.stringify(seen)}`,
    );
    page.off("request", onRequest);
    page.off("framenavigated", onNavigate);
    assert.deepEqual(lists, [], "no GET /ports or GET /incidents list while the events carried the recovery");
    assert.deepEqual(events, [], "the one stream stayed open (no reconnect)");
    assert.deepEqual(navigations, [], "no reload");
    await page.screenshot({ path: path.join(ARTIFACTS, "recovery-live.png") });
    await view.getByRole("button", { name: "Close" }).click();
  });

  it("does not offer Recover on a port without a recover block, and says why", async () => {
    const plain = await openViewer(ADMIN, "plain");
    try {
      const recover = plain.page.getByRole("button", { name: "Recover…" });
      await waitUntil(
        async () => (await recover.getAttribute("title")) !== "",
        10_000,
        "the Recover button's reason",
      );
      assert.equal(await recover.isDisabled(), true, "an admin's Recover is disabled without a ladder");
      assert.match((await recover.getAttribute("title")) ?? "", /no recovery ladder/, "the tooltip says why");
      const mine = admin.page.getByRole("button", { name: "Recover…" });
      assert.equal(await mine.isDisabled(), false, "vm0's ladder stays offered to the admin");
    } finally {
      await plain.page.context().close();
    }
  });

  it("ran without script errors or Content-Security-Policy violations", () => {
    assert.deepEqual(problems, []);
  });
});
