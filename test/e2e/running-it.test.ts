/**
 * README "Running it": the documented command, run as written from the clone's root, answers
 * GET /healthz with config/example.yaml, whose ports do not exist here (they stay `connecting`).
 * Only that it answers is asserted: how fast is `npm run bench`'s business.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const COMMAND = "node dist/main.js --config config/example.yaml";
const HEALTHZ = "http://127.0.0.1:8420/healthz"; // config/example.yaml's listen address

test("the README's start command answers /healthz with config/example.yaml", async () => {
  const readme = await readFile(`${root}/README.md`, "utf8");
  const section = readme.slice(readme.indexOf("## Running it"), readme.indexOf("## CLI"));
  assert.ok(section.includes(`\n${COMMAND}\n`), `README "Running it" documents: ${COMMAND}`);
  const busy = await fetch(HEALTHZ).then(
    () => true,
    () => false,
  );
  assert.equal(busy, false, "something already listens on 127.0.0.1:8420; stop it to run this test");

  const [program, ...args] = COMMAND.split(" ") as [string, ...string[]];
  const child = spawn(program === "node" ? process.execPath : program, args, {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  after(async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  });

  const end = Date.now() + 15_000;
  let status = 0;
  while (status !== 200) {
    assert.equal(child.exitCode, null, `the daemon exited: ${stderr}`);
    assert.ok(Date.now() < end, `no answer from ${HEALTHZ} in 15 s: ${stderr}`);
    status = await fetch(HEALTHZ).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  const ports = (await (await fetch("http://127.0.0.1:8420/ports")).json()) as {
    id: string;
    state: string;
  }[];
  assert.deepEqual(
    ports.map((p) => [p.id, p.state]),
    [
      ["ttyS0", "connecting"],
      ["vm0", "connecting"],
    ],
  );
});
