/**
 * A real browser for the web console tests: Debian's chromium driven by playwright-core (no browser
 * download), plus what a test needs to observe a page: the text xterm shows and the console
 * WebSocket's frames as the browser saw them.
 */
import { chromium, type Browser, type Page, type WebSocket } from "playwright-core";
import { waitUntil } from "./daemon.js";

export const CHROMIUM = process.env["SYSRQ_BRIDGE_CHROMIUM"] ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** The console socket's frames, as the page received and sent them. */
export interface ConsoleFrames {
  /** Binary frames from the daemon, in order. */
  readonly received: Buffer[];
  /** Text (JSON control) frames from the daemon. */
  readonly messages: Record<string, unknown>[];
  /** Binary frames the page sent (typed input). */
  readonly sent: Buffer[];
  readonly output: () => Buffer;
}

/** Records the frames of every console WebSocket the page opens from now on. */
export function recordConsoleFrames(page: Page): ConsoleFrames {
  const frames: ConsoleFrames = {
    received: [],
    messages: [],
    sent: [],
    output: () => Buffer.concat(frames.received),
  };
  page.on("websocket", (socket: WebSocket) => {
    if (!socket.url().includes("/console")) return;
    socket.on("framereceived", ({ payload }) => {
      if (typeof payload === "string") frames.messages.push(JSON.parse(payload) as Record<string, unknown>);
      else frames.received.push(payload);
    });
    socket.on("framesent", ({ payload }) => {
      if (typeof payload !== "string") frames.sent.push(payload);
    });
  });
  return frames;
}

/** The text of the terminal's screen (xterm's DOM renderer, one row per line). */
export async function terminalText(page: Page): Promise<string> {
  return page.locator(".xterm-rows").innerText();
}

/** Waits until some terminal row, trimmed, passes `check`. */
export async function waitForTerminalLine(
  page: Page,
  check: (line: string) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  let last = "";
  await waitUntil(
    async () => {
      last = await terminalText(page);
      return last.split("\n").some((line) => check(line.replace(/\u00a0/g, " ").trim()));
    },
    timeoutMs,
    what,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; the terminal shows:\n${last}`);
  });
}
