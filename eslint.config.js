// @ts-check
import eslint from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * The layers of src/, highest first: a module imports only from its own row or a lower one (a row's
 * folders may import each other while no cycle results). Folders not created yet are listed where
 * they go. "*.ts" is the leaf modules directly in src/ (errors, clock, logger ...), main.ts apart.
 * A type-only import counts as an import here; import-x/no-cycle follows value imports only.
 * test/unit/project/layers.test.ts checks that the rule fires and that every folder of src/ has a row.
 */
export const LAYERS = [
  ["main.ts"],
  ["cli", "daemon"],
  ["api", "export"],
  ["clients", "audit", "recovery"],
  ["ports"],
  ["capture", "sysrq", "nmi"],
  ["transports", "telnet", "control"],
  ["config"],
  ["*.ts"],
];

/** @param {string} entry */
const layerName = (entry) =>
  entry === "*.ts" ? "leaf modules (src/*.ts)" : entry.endsWith(".ts") ? entry : `${entry}/`;
/** @param {string} entry */
const layerPath = (entry) => (entry === "*.ts" ? "src/!(main).ts" : `src/${entry}`);

/** One zone per pair (lower, higher), so that the message names both. */
const layerZones = LAYERS.flatMap((row, below) =>
  row.flatMap((target) =>
    LAYERS.slice(0, below)
      .flat()
      .map((from) => ({
        target: layerPath(target),
        from: layerPath(from),
        message: `${layerName(target)} may not import ${layerName(from)} (layers point down: see docs/architecture.md)`,
      })),
  ),
);

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "var/", "coverage/"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      // fastify plugins are async by convention even when they await nothing.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      // One lint run: what a file resolves to does not change meanwhile (the default forgets after 30 s).
      "import-x/cache": { lifetime: "∞" },
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { basePath: import.meta.dirname, zones: layerZones }],
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
    },
  },
  {
    // The page's scripts run in the browser; web/tsconfig.json (checkJs, DOM lib) resolves their names.
    files: ["web/**/*.js"],
    rules: { "no-undef": "off" },
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
