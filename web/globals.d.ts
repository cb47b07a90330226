/** xterm's browser builds are loaded as classic scripts (vendor/*.js) and set these globals. */
import type { FitAddon } from "@xterm/addon-fit";
import type { Terminal } from "@xterm/xterm";

declare global {
  interface Window {
    Terminal: typeof Terminal;
    FitAddon: { FitAddon: typeof FitAddon };
  }
}

export {};
