// @ts-check
/**
 * The "Send SysRq" dialog: one button per key, grouped as the daemon's key table (GET /sysrq/keys)
 * groups them, presets, a free sequence. Destructive keys (the table's flag) are confirmed first;
 * keys beyond the caller's role are shown disabled. Each key's verdict is listed as the daemon
 * streams it; every text from the daemon or the target (actions, lines, hints) goes in with
 * textContent.
 */
import { ApiError, lastHelpLine, listSysrqKeys, roleAtLeast, sendSysrq } from "./api.js";
import {
  PRESETS,
  VALID_SEQUENCE,
  confirmationText,
  destructiveKeys,
  keyGroups,
  keysFromHelp,
  plural,
  roleForSequence,
} from "./keys.js";

/**
 * @param {string} tag @param {Record<string, string>} [attributes] @param {string} [text]
 * @returns {HTMLElement}
 */
function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export class SysrqDialog {
  /**
   * @param {HTMLDialogElement} dialog @param {() => string | null} currentPort
   * @param {() => string | null} currentRole the caller's role once the console said it, else null
   */
  constructor(dialog, currentPort, currentRole) {
    this.dialog = dialog;
    this.currentPort = currentPort;
    this.currentRole = currentRole;
    this.busy = false;
    /** @type {Promise<import("./api.js").SysrqKey[]> | null} */
    this.loading = null;
    /** @type {import("./api.js").SysrqKey[] | null} */
    this.table = null;
    /**
     * Per port, the keys its kernel's last HELP line offered (from the log, then from each answer):
     * the others are shown disabled. No entry: not known yet, every key is offered.
     * @type {Map<string, Set<string>>}
     */
    this.offered = new Map();
    this.title = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-title"));
    this.keysBox = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-keys"));
    this.presetsBox = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-presets"));
    this.results = /** @type {HTMLOListElement} */ (dialog.querySelector("#sysrq-results"));
    this.status = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-status"));
    this.form = /** @type {HTMLFormElement} */ (dialog.querySelector("#sysrq-form"));
    this.sequence = /** @type {HTMLInputElement} */ (dialog.querySelector("#sysrq-sequence"));
    this.renderPresets();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send(this.sequence.value.trim());
    });
    /** @type {HTMLButtonElement} */ (dialog.querySelector("#sysrq-close")).addEventListener("click", () =>
      dialog.close(),
    );
  }

  /**
   * Fetches the key table once (again after a failure) and renders its buttons.
   * @returns {Promise<import("./api.js").SysrqKey[]>}
   */
  load() {
    this.loading ??= listSysrqKeys().then(
      ({ keys }) => {
        this.table = keys;
        this.renderKeys(keys);
        return keys;
      },
      (err) => {
        this.loading = null;
        throw err;
      },
    );
    return this.loading;
  }

  open() {
    const port = this.currentPort();
    this.title.textContent = port === null ? "Send SysRq" : `Send SysRq to ${port}`;
    if (port !== null) {
      // What the kernel said it offers, from its last HELP line in the log (a failure: all offered).
      void lastHelpLine(port).then(
        (line) => {
          if (line !== null && !this.offered.has(port)) this.offered.set(port, keysFromHelp(line));
          this.allowByRole();
        },
        () => undefined,
      );
    }
    this.dialog.showModal();
    if (this.table !== null) {
      this.focusFirstKey();
      return;
    }
    const focused = document.activeElement;
    this.status.textContent = "Loading the key table…";
    void this.load().then(
      () => {
        this.status.textContent = "";
        // Unless the user has moved on (typing a sequence), the first key gets the focus.
        if (this.dialog.open && document.activeElement === focused) this.focusFirstKey();
      },
      (err) => this.showError(err, "Could not load the key table"),
    );
  }

  focusFirstKey() {
    this.allowByRole();
    /** @type {HTMLButtonElement | null} */ (this.keysBox.querySelector("button:enabled"))?.focus();
  }

  /** @param {readonly import("./api.js").SysrqKey[]} table */
  renderKeys(table) {
    this.keysBox.replaceChildren(
      ...keyGroups(table).map((group) => {
        const fieldset = element("fieldset", { class: `keys ${group.id}` });
        fieldset.append(element("legend", {}, group.title));
        for (const run of group.runs) {
          if (run.keys.length === 1) {
            for (const entry of run.keys) fieldset.append(this.keyButton(entry, ` ${entry.action}`));
            continue;
          }
          const box = element("span", { class: "key-run" });
          box.append(element("span", {}, run.action), ...run.keys.map((entry) => this.keyButton(entry)));
          fieldset.append(box);
        }
        return fieldset;
      }),
    );
    this.allowByRole();
  }

  /** @param {import("./api.js").SysrqKey} entry @param {string} [label] */
  keyButton(entry, label) {
    const button = element("button", { type: "button", "data-key": entry.key, "data-role": entry.role });
    button.dataset["title"] = `SysRq ${entry.key}: ${entry.action}`;
    button.append(element("kbd", {}, entry.key));
    if (label !== undefined) button.append(document.createTextNode(label));
    button.addEventListener("click", () => void this.send(entry.key));
    return button;
  }

  renderPresets() {
    for (const preset of PRESETS) {
      const button = element("button", { type: "button", title: preset.title }, preset.keys.toUpperCase());
      button.dataset["title"] = preset.title;
      button.dataset["keys"] = preset.keys;
      button.addEventListener("click", () => void this.send(preset.keys));
      this.presetsBox.append(button);
    }
  }

  /**
   * Disables the keys and presets the caller's role may not send, saying which role they need, and
   * those the port's kernel said it lacks (its HELP line), saying so.
   */
  allowByRole() {
    const role = this.currentRole();
    const table = this.table;
    const port = this.currentPort();
    const offered = port === null ? undefined : this.offered.get(port);
    /** @param {HTMLButtonElement} button @param {string} needed @param {string} keys */
    const allow = (button, needed, keys) => {
      const allowed = role === null || roleAtLeast(role, needed);
      const lacking = offered === undefined ? [] : Array.from(keys).filter((key) => !offered.has(key));
      button.disabled = !allowed || lacking.length > 0;
      button.classList.toggle("not-offered", lacking.length > 0);
      const why = [];
      if (!allowed) why.push(`needs the ${needed} role; this token has ${role ?? "?"}`);
      if (lacking.length > 0)
        why.push(`${port ?? "the port"}'s kernel lacks ${lacking.join("")}: its HELP line does not list it`);
      const title = button.dataset["title"] ?? "";
      button.title = why.length === 0 ? title : `${title} (${why.join("; ")})`;
    };
    for (const button of this.keysBox.querySelectorAll("button"))
      allow(button, button.dataset["role"] ?? "", button.dataset["key"] ?? "");
    if (table === null) return;
    for (const button of this.presetsBox.querySelectorAll("button")) {
      const keys = button.dataset["keys"] ?? "";
      allow(button, roleForSequence(keys, table), keys);
    }
  }

  /** @param {unknown} err @param {string} what */
  showError(err, what) {
    this.status.textContent =
      err instanceof ApiError ? `${err.code}: ${err.message}` : `${what}: ${String(err)}`;
  }

  /** @param {string} keys */
  async send(keys) {
    const port = this.currentPort();
    if (this.busy || port === null) return;
    if (!VALID_SEQUENCE.test(keys)) {
      this.status.textContent = "A sequence is 1 to 32 keys: letters and digits (case matters).";
      return;
    }
    /** @type {import("./api.js").SysrqKey[]} */
    let table;
    try {
      table = await this.load();
    } catch (err) {
      // Without the table the page cannot tell a destructive key: it sends nothing.
      return this.showError(err, "Could not load the key table");
    }
    if (destructiveKeys(keys, table).length > 0 && !window.confirm(confirmationText(keys, port, table)))
      return;
    this.busy = true;
    this.dialog.setAttribute("aria-busy", "true");
    this.results.replaceChildren();
    this.status.textContent = `Sending ${keys} to ${port}…`;
    let settled = 0;
    try {
      await sendSysrq(port, keys, (result) => {
        settled += 1;
        this.results.append(this.resultItem(result));
        this.learn(port, result);
      });
      this.status.textContent =
        settled === keys.length
          ? `${plural(settled, "key")} settled.`
          : `${settled} of ${plural(keys.length, "key")} settled.`;
    } catch (err) {
      this.showError(err, "Request failed");
    } finally {
      this.busy = false;
      this.dialog.removeAttribute("aria-busy");
    }
  }

  /**
   * A HELP answer (h, or a key the kernel lacks) says which keys this kernel offers.
   * @param {string} port @param {import("./api.js").KeyResult} result
   */
  learn(port, result) {
    if (result.verdict === "acknowledged" && result.key === "h" && typeof result.line === "string")
      this.offered.set(port, keysFromHelp(result.line));
    else if (result.verdict === "unsupported" && typeof result.supported === "string")
      this.offered.set(port, new Set(result.supported));
    else return;
    this.allowByRole();
  }

  /** @param {import("./api.js").KeyResult} result */
  resultItem(result) {
    const item = element("li", { class: `verdict-${result.verdict}`, "data-key": result.key });
    item.append(
      element("kbd", {}, result.key),
      element("strong", { class: "verdict" }, result.verdict),
      element("span", {}, result.action ?? ""),
    );
    if (typeof result.latencyMs === "number")
      item.append(element("span", { class: "latency" }, `${result.latencyMs.toFixed(1)} ms`));
    for (const text of [result.line, result.hint, result.reason, result.note]) {
      if (typeof text === "string" && text !== "") item.append(element("div", { class: "detail" }, text));
    }
    return item;
  }
}
