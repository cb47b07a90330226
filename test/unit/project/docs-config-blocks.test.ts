import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseYamlDocument, resolveConfig } from "../../../src/config/load.js";

/**
 * Every ```yaml block in README.md and docs/*.md is a config the daemon accepts: parsed by its YAML
 * parser and resolved by resolveConfig (the schema validator and every check config/load.ts makes).
 *
 * A block's first line may say what it is:
 *   # partial: top    top-level keys, merged over `ports:` holding vm0 and ttyS0 (telnet ports)
 *   # partial: ports  a list of port entries (or one entry), which become `ports:`
 *   # partial: port   keys of one port entry, merged into vm0 (a telnet port)
 *   # not-config: <what it is instead>   not a sysrq-bridge config (a compose file, ...): skipped
 * Anything after the marker word is a note for readers. Without a marker the block is a whole config.
 *
 * Secrets a config names are read when it is resolved, so the test provides them: an `env` or
 * `passwordEnv` variable (in `nmi` or `power`) or a webhook's `secretEnv` gets a value of its own; a token
 * `file`, a webhook's `secretFile`, `passwordFile`, `caFile` and
 * `listen.tls` files are made under a temporary folder (their paths rewritten to it).
 */

const root = fileURLToPath(new URL("../../..", import.meta.url));

const BASE_PORTS = [
  { id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } },
  { id: "ttyS0", transport: { kind: "telnet", host: "127.0.0.1", port: 4556 } },
];

interface YamlBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly text: string;
}

/** The ```yaml (or ```yml) blocks of a markdown text, their indentation (inside a list item) removed. */
function yamlBlocks(file: string, markdown: string): YamlBlock[] {
  const lines = markdown.split("\n");
  const blocks: YamlBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```ya?ml\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const indent = open[1]?.length ?? 0;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^ *```\s*$/.test(lines[j] ?? ""); j++)
      body.push((lines[j] ?? "").slice(indent));
    assert.ok(j < lines.length, `${file}:${i + 1}: a yaml block is never closed`);
    blocks.push({ file, line: i + 1, text: body.join("\n") });
    i = j;
  }
  return blocks;
}

type Marker = { kind: "whole" } | { kind: "partial"; where: "top" | "ports" | "port" } | { kind: "skip" };

function markerOf(block: YamlBlock): Marker {
  const first = block.text.split("\n")[0] ?? "";
  const partial = /^#\s*partial:\s*(\S+)/.exec(first);
  if (partial) {
    const where = partial[1];
    if (where === "top" || where === "ports" || where === "port") return { kind: "partial", where };
    throw new Error(`${block.file}:${block.line}: unknown marker "partial: ${where}" (top, ports or port)`);
  }
  const other = /^#\s*not-config:\s*(.*)$/.exec(first);
  if (other) {
    if ((other[1] ?? "").trim() === "")
      throw new Error(`${block.file}:${block.line}: not-config needs a reason`);
    return { kind: "skip" };
  }
  return { kind: "whole" };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The whole config a block stands for. */
function documentOf(block: YamlBlock, marker: Marker, parsed: unknown): unknown {
  const where = `${block.file}:${block.line}`;
  if (marker.kind !== "partial") return parsed;
  switch (marker.where) {
    case "top":
      assert.ok(isMapping(parsed), `${where}: a "partial: top" block must be a mapping of top-level keys`);
      return { ports: structuredClone(BASE_PORTS), ...parsed };
    case "ports":
      assert.ok(
        Array.isArray(parsed) || isMapping(parsed),
        `${where}: a "partial: ports" block must be a list of ports or one port`,
      );
      return { ports: Array.isArray(parsed) ? parsed : [parsed] };
    case "port":
      assert.ok(isMapping(parsed), `${where}: a "partial: port" block must be a mapping of port keys`);
      return { ports: [{ ...structuredClone(BASE_PORTS[0]), ...parsed }] };
  }
}

/** Makes the secrets `doc` names exist; returns a function that removes the environment variables set. */
function provideSecrets(doc: unknown, dir: string): () => void {
  let made = 0;
  const secret = (): string => `docs-test-secret-${String(++made).padStart(4, "0")}-0123456789`;
  const setEnv: string[] = [];
  const env = (name: unknown): void => {
    if (typeof name !== "string" || name in process.env) return;
    process.env[name] = secret();
    setEnv.push(name);
  };
  const file = (holder: Record<string, unknown>, key: string): void => {
    const value = holder[key];
    if (typeof value !== "string") return;
    const target = path.join(dir, "files", value.replace(/^\/+/, ""));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, `${secret()}\n`);
    holder[key] = target;
  };
  if (isMapping(doc)) {
    const auth = doc["auth"];
    const tokens = isMapping(auth) && Array.isArray(auth["tokens"]) ? auth["tokens"] : [];
    for (const token of tokens) {
      if (!isMapping(token)) continue;
      env(token["env"]);
      file(token, "file");
    }
    const listen = doc["listen"];
    const tls = isMapping(listen) ? listen["tls"] : undefined;
    if (isMapping(tls)) {
      file(tls, "cert");
      file(tls, "key");
    }
    for (const hook of Array.isArray(doc["webhooks"]) ? doc["webhooks"] : []) {
      if (!isMapping(hook)) continue;
      env(hook["secretEnv"]);
      file(hook, "secretFile");
    }
    for (const port of Array.isArray(doc["ports"]) ? doc["ports"] : []) {
      // nmi and power take the same Redfish/IPMI block; an ipmi-sol transport the IPMI keys.
      for (const key of ["nmi", "power", "transport"]) {
        const redfish = isMapping(port) ? port[key] : undefined;
        if (!isMapping(redfish)) continue;
        env(redfish["passwordEnv"]);
        file(redfish, "passwordFile");
        file(redfish, "caFile");
      }
    }
  }
  return () => {
    for (const name of setEnv) delete process.env[name];
  };
}

/** Loads one block as the daemon would; throws an error naming the file and line when it is not valid. */
function checkBlock(block: YamlBlock, dir: string): "checked" | "skipped" {
  const marker = markerOf(block);
  if (marker.kind === "skip") return "skipped";
  const where = `${block.file}:${block.line}`;
  let parsed: unknown;
  try {
    parsed = parseYamlDocument(block.text, where);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  const doc = documentOf(block, marker, parsed);
  const unset = provideSecrets(doc, dir);
  try {
    resolveConfig(doc, path.join(dir, "base"));
  } catch (err) {
    throw new Error(`${where}: the daemon refuses this config: ${(err as Error).message}`);
  } finally {
    unset();
  }
  return "checked";
}

function docFiles(): string[] {
  const docs = readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => path.join("docs", name));
  return ["README.md", ...docs.sort()];
}

describe("config blocks in the docs", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sysrq-bridge-docs-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("every yaml block in README.md and docs/*.md is a config the daemon accepts", () => {
    const blocks = docFiles().flatMap((file) =>
      yamlBlocks(file, readFileSync(path.join(root, file), "utf8")),
    );
    const failures: string[] = [];
    let checked = 0;
    for (const block of blocks) {
      try {
        if (checkBlock(block, dir) === "checked") checked += 1;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    assert.deepEqual(failures, []);
    // The README's config, configuration.md's, security's, re-export's and the targets' (at least).
    assert.ok(checked >= 8, `only ${checked} yaml blocks found: is the extraction broken?`);
    assert.ok(
      blocks.some((b) => b.file === "README.md"),
      "README.md has a config block",
    );
  });

  it("refuses a broken block, an unknown marker, and a partial block with a wrong key", () => {
    const md = (body: string): YamlBlock[] => yamlBlocks("t.md", "text\n\n```yaml\n" + body + "\n```\n");
    const refusal = (body: string): string => {
      const [block] = md(body);
      assert.ok(block);
      try {
        checkBlock(block, dir);
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    assert.match(
      refusal("ports:\n  - id: vm0\n    transport: { kind: telnet, host: h, port: 1, colour: red }"),
      /unknown key/,
    );
    assert.match(refusal("# partial: port\nsysrqMask: 9999"), /t\.md:3: .*sysrqMask/);
    assert.match(refusal("# partial: ports\n- id: vm0\n  transport: { kind: serial }"), /kind/);
    assert.match(
      refusal("# partial: top\nauth: { tokens: [{ name: a, role: admin }] }"),
      /give one of sha256, file or env/,
    );
    assert.match(refusal("# partial: everything\nlog: { level: info }"), /unknown marker/);
    assert.match(refusal("# not-config:\nfoo: 1"), /needs a reason/);
    assert.equal(refusal("# partial: top\nlog: { level: debug }"), "accepted");
    assert.equal(refusal("# not-config: a docker compose file\nservices: {}"), "accepted");
    // A list item's block, indented under its bullet.
    const [indented] = yamlBlocks(
      "t.md",
      "- item\n\n  ```yaml\n  # partial: port\n  sysrqMask: 438\n  ```\n",
    );
    assert.equal(indented && checkBlock(indented, dir), "checked");
  });
});
