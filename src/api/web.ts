/**
 * The web console page: static files from web/ at /ui/, and xterm's browser builds from npm at
 * /ui/vendor/ (labs are often offline: no CDN). Public, like /docs: the page holds no data; every
 * call it makes carries the user's token. `/` redirects to the page.
 *
 *   GET /ui/*            web/ (index.html, app.js and its modules, app.css, favicon.svg)
 *   GET /ui/vendor/*     @xterm/xterm lib + css, @xterm/addon-fit lib
 *
 * Every answer carries a Content-Security-Policy: scripts only from this daemon (no inline script,
 * no eval), connections only back to it. <style> elements may be inline because xterm's DOM renderer
 * injects its own (no style attributes); kernel output never becomes markup (textContent only).
 */
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** web/ sits two levels above this file in both src/api and dist/chunks (scripts/build.ts). */
const WEB_ROOT = fileURLToPath(new URL("../../web/", import.meta.url));

function packageDir(name: string): string {
  return path.dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

/** A Host header we are willing to repeat inside the policy (name or [v6] and an optional port). */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function contentSecurityPolicy(host: string | undefined): string {
  // CSP 3 lets 'self' cover ws: on the same host; older engines need it spelled out.
  const sockets = host !== undefined && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-elem 'self' 'unsafe-inline'",
    "style-src-attr 'none'",
    `connect-src 'self'${sockets}`,
    "img-src 'self' blob:",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export async function registerWebConsole(app: FastifyInstance): Promise<void> {
  await app.register(async (web) => {
    web.addHook("onRoute", (route) => {
      route.config = { ...route.config, access: "public" };
    });
    web.addHook("onSend", async (request, reply) => {
      void reply
        .header("content-security-policy", contentSecurityPolicy(request.headers.host))
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache");
    });
    web.get("/", { schema: { hide: true } }, (_request, reply) => reply.redirect("/ui/"));
    // Browsers and tools that ask for /favicon.ico without reading the page's <link rel="icon">.
    web.get("/favicon.ico", { schema: { hide: true } }, (_request, reply) =>
      reply.redirect("/ui/favicon.svg"),
    );
    await web.register(fastifyStatic, {
      root: WEB_ROOT,
      prefix: "/ui/",
      decorateReply: false,
      schemaHide: true,
      index: "index.html",
    });
    const xterm = packageDir("@xterm/xterm");
    const fit = packageDir("@xterm/addon-fit");
    await web.register(fastifyStatic, {
      root: [path.join(xterm, "lib"), path.join(xterm, "css"), path.join(fit, "lib")],
      prefix: "/ui/vendor/",
      decorateReply: false,
      schemaHide: true,
      index: false,
      allowedPath: (pathName) => /^\/(xterm\.js|xterm\.css|addon-fit\.js)$/.test(pathName),
    });
  });
}
