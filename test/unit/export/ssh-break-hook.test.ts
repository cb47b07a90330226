/**
 * The `break` hook leans on ssh2 1.17.0's internals (export/ssh-break-hook.ts): this fails if the
 * pinned version moves, if the hook can no longer find the handler it wraps, or if a real OpenSSH
 * client's `~B` no longer reaches the session as a `break` event with its length.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import { hookBreakRequests } from "../../../src/export/ssh-break-hook.js";
import { makeSshKey, SshSession, sshTempDir } from "../../helpers/ssh-client.js";
import { requireTools } from "../../helpers/tools.js";
import path from "node:path";

const skip = requireTools("ssh", "ssh-keygen", "script");

describe("ssh2's break requests, hooked", { skip, timeout: 30_000 }, () => {
  let server: InstanceType<typeof ssh2.Server>;
  let port: number;
  const breaks: number[] = [];
  const hookErrors: unknown[] = [];

  before(async () => {
    const hostKey = ssh2.utils.generateKeyPairSync("ed25519", {}).private;
    server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      try {
        hookBreakRequests(client);
      } catch (err) {
        hookErrors.push(err);
      }
      client.on("authentication", (ctx) => ctx.accept());
      client.on("error", () => undefined);
      client.on("session", (accept) => {
        const session = accept();
        session.on("pty", (ok) => ok?.());
        session.on("break", (lengthMs: number) => breaks.push(lengthMs));
        session.on("shell", (ok) => {
          const channel = ok();
          channel.write("ready\r\n");
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("is the version the hook was written against", () => {
    const version = (createRequire(import.meta.url)("ssh2/package.json") as { version: string }).version;
    assert.equal(version, "1.17.0", "ssh2 moved: re-check ssh-break-hook.ts against its CHANNEL_REQUEST");
  });

  it("turns OpenSSH's ~B into a break event with RFC 4335's length", async () => {
    const dir = await sshTempDir();
    const key = await makeSshKey(dir, "user");
    const ssh = new SshSession({ port, user: "vm0", key, knownHosts: path.join(dir, "known_hosts") });
    try {
      await ssh.waitFor(/ready/, 10_000);
      ssh.type("\r");
      await new Promise((resolve) => setTimeout(resolve, 200));
      ssh.type("~B");
      const end = Date.now() + 5000;
      while (breaks.length === 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await ssh.stop();
    }
    assert.deepEqual(hookErrors, [], "the hook found ssh2's handler");
    assert.deepEqual(breaks, [1000], "one break of OpenSSH's 1000 ms");
  });
});
