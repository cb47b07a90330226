/**
 * The served API reference (/docs, Swagger UI) in a real browser: Debian's chromium via playwright-core
 * renders every route without a Content-Security-Policy violation. The daemon runs in-process over a
 * fake kernel; the document itself is checked in test/integration/openapi-metrics.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";
import { CHROMIUM, launchChromium } from "../helpers/browser.js";
import { requireTools } from "../helpers/tools.js";

describe("API reference page (/docs)", () => {
  it(
    "/docs renders in chromium without a Content-Security-Policy violation",
    { skip: requireTools(CHROMIUM), timeout: 60_000 },
    async () => {
      const listening = await startTestDaemon({
        ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
        createTransport: new FakeKernel().factory,
        listen: true,
      });
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(message.text());
        });
        page.on("pageerror", (err) => problems.push(err.message));
        // Runs in the page (a string: this file is not compiled against the DOM).
        await page.addInitScript({
          content:
            'document.addEventListener("securitypolicyviolation", (e) => ' +
            "console.error(`CSP ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`));",
        });
        await page.goto(`${listening.url}/docs`);
        await page.locator(".opblock").first().waitFor({ timeout: 20_000 });
        // Swagger UI's logo is drawn after the operations; give late styles a moment.
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.ok((await page.locator(".opblock").count()) >= 13, "every route is shown");
        assert.deepEqual(problems, []);
      } finally {
        await browser.close();
        await listening.close();
      }
    },
  );
});
