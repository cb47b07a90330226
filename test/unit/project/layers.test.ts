/**
 * The layer rule of eslint.config.js (imports point down src/'s layers, no cycle) is what the lint
 * step enforces: this lints a few probe files through ESLint's Node API with the project's own config,
 * so a rule that stops matching (a renamed folder, a resolver that no longer finds .ts files behind
 * .js imports) fails here rather than letting upward imports through unnoticed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const probe = `layers-probe-${process.pid}`;

/** Probe files (path under src/ -> text); each folder or file made here is removed afterwards. */
const FILES: Record<string, string> = {
  [`ports/${probe}/upward.ts`]: 'export { buildApp } from "../../api/app.js";\n',
  [`ports/${probe}/downward.ts`]:
    'export { BridgeError } from "../../errors.js";\nexport { KEY_TABLE } from "../../sysrq/keys.js";\n',
  [`ports/${probe}/a.ts`]: 'import { b } from "./b.js";\nexport const a = (): number => b() + 1;\n',
  [`ports/${probe}/b.ts`]: 'import { a } from "./a.js";\nexport const b = (): number => a() - 1;\n',
  [`${probe}.ts`]: 'export { KEY_TABLE } from "./sysrq/keys.js";\n',
  // A folder another change creates: the rule knows its row before it exists.
  [`capture/${probe}/upward.ts`]: 'export type { Port } from "../../ports/port.js";\n',
};

const made: string[] = [];
let results: Map<string, ESLint.LintResult>;

function messagesOf(file: string): string[] {
  const result = results.get(path.join(root, "src", file));
  assert.ok(result, `${file} was linted`);
  return result.messages.map((m) => `${m.ruleId ?? "(fatal)"}: ${m.message}`);
}

describe("layer rule (eslint.config.js)", () => {
  before(async () => {
    for (const [file, text] of Object.entries(FILES)) {
      const dir = path.join(root, "src", path.dirname(file));
      if (!existsSync(dir)) {
        made.push(firstMissing(dir));
        await mkdir(dir, { recursive: true });
      }
      const full = path.join(root, "src", file);
      if (path.dirname(file) === ".") made.push(full);
      await writeFile(full, text);
    }
    // The project's config as it is, less the type-aware rules (a TypeScript program: slow, and not
    // what this is about).
    const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });
    const linted = await eslint.lintFiles(Object.keys(FILES).map((file) => path.join(root, "src", file)));
    results = new Map(linted.map((result) => [result.filePath, result]));
  });

  after(async () => {
    for (const entry of made) await rm(entry, { recursive: true, force: true });
  });

  it("refuses an upward import, naming the layers and the import", () => {
    assert.deepEqual(messagesOf(`ports/${probe}/upward.ts`), [
      'import-x/no-restricted-paths: Unexpected path "../../api/app.js" imported in restricted zone. ' +
        "ports/ may not import api/ (layers point down: see docs/architecture.md)",
    ]);
  });

  it("refuses a leaf module in src/ importing a folder", () => {
    assert.deepEqual(messagesOf(`${probe}.ts`), [
      'import-x/no-restricted-paths: Unexpected path "./sysrq/keys.js" imported in restricted zone. ' +
        "leaf modules (src/*.ts) may not import sysrq/ (layers point down: see docs/architecture.md)",
    ]);
  });

  it("knows where a folder goes before it exists (capture/ below ports/)", () => {
    assert.deepEqual(messagesOf(`capture/${probe}/upward.ts`), [
      'import-x/no-restricted-paths: Unexpected path "../../ports/port.js" imported in restricted zone. ' +
        "capture/ may not import ports/ (layers point down: see docs/architecture.md)",
    ]);
  });

  it("lets imports point down", () => {
    assert.deepEqual(messagesOf(`ports/${probe}/downward.ts`), []);
  });

  it("refuses an import cycle", () => {
    assert.deepEqual(messagesOf(`ports/${probe}/a.ts`), ["import-x/no-cycle: Dependency cycle detected"]);
    assert.deepEqual(messagesOf(`ports/${probe}/b.ts`), ["import-x/no-cycle: Dependency cycle detected"]);
  });

  it("places every folder of src/ in a layer", async () => {
    // Imported by URL: the config is JavaScript, outside what tsc checks.
    const config = (await import(new URL("../../../eslint.config.js", import.meta.url).href)) as {
      LAYERS: string[][];
    };
    const placed = new Set(config.LAYERS.flat());
    const folders = (await readdir(path.join(root, "src"), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    assert.ok(folders.length > 5, "src/ was read");
    for (const folder of folders) assert.ok(placed.has(folder), `src/${folder}/ is in LAYERS`);
  });
});

/** The outermost directory of `dir` that does not exist yet. */
function firstMissing(dir: string): string {
  let missing = dir;
  while (!existsSync(path.dirname(missing))) missing = path.dirname(missing);
  return missing;
}
