import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Daemon } from "../../../src/daemon/daemon.js";
import { startTestDaemon } from "../../helpers/daemon.js";

/**
 * Every route of the OpenAPI document the daemon serves is named in docs/http-api.md as
 * `METHOD /path` (in backticks, `:id` for a path parameter, optionally followed by a query string), so
 * a new route cannot ship undocumented. The app is built in-process, as the OpenAPI test builds it.
 * And README.md links every page in docs/ directly, so a new page cannot hide.
 */

const HTTP_API = fileURLToPath(new URL("../../../docs/http-api.md", import.meta.url));

/** The routes an OpenAPI document lists, as `METHOD /path` with `:param` for `{param}`. */
function openApiRoutes(doc: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(doc.paths).flatMap(([route, operations]) =>
    Object.keys(operations).map(
      (method) => `${method.toUpperCase()} ${route.replace(/\{([^}]+)\}/g, ":$1")}`,
    ),
  );
}

/** The routes in `routes` that `markdown` never names as `` `METHOD /path`` (ending there or at `?`). */
function undocumented(routes: readonly string[], markdown: string): string[] {
  return routes.filter((route) => {
    const escaped = route.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return !new RegExp("`" + escaped + "(?:`|\\?)").test(markdown);
  });
}

describe("docs/http-api.md names every route", () => {
  let daemon: Daemon;

  before(async () => {
    // No target needed: the port only has to exist for the app to be built.
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 9 } }],
    });
  });
  after(() => daemon.close());

  it("every route of the OpenAPI document appears as `METHOD /path`", async () => {
    const res = await daemon.app.inject({ method: "GET", url: "/docs/json" });
    assert.equal(res.statusCode, 200);
    const routes = openApiRoutes(res.json());
    assert.ok(routes.length >= 10, `only ${routes.length} routes in the OpenAPI document`);
    assert.deepEqual(undocumented(routes, readFileSync(HTTP_API, "utf8")), []);
  });

  it("tells a named route from a longer one that starts the same", () => {
    const routes = ["GET /ports", "GET /ports/:id", "GET /ports/:id/log"];
    assert.deepEqual(undocumented(routes, "| `GET /ports/:id/log?since&limit` |"), [
      "GET /ports",
      "GET /ports/:id",
    ]);
    assert.deepEqual(undocumented(routes, "`GET /ports`, `GET /ports/:id`, `GET /ports/:id/log`"), []);
  });
});

describe("README.md links every docs page", () => {
  it("names each docs/*.md as a link to docs/<page>.md", () => {
    const docs = fileURLToPath(new URL("../../../docs/", import.meta.url));
    const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
    const pages = readdirSync(docs).filter((name) => name.endsWith(".md"));
    assert.ok(pages.length >= 10, `only ${pages.length} pages in docs/`);
    assert.deepEqual(
      pages.filter((page) => !readme.includes(`](docs/${page})`)),
      [],
    );
  });
});
