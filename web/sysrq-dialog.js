// @ts-check
/**
 * The "Send SysRq" dialog: one button per key (grouped), presets, a free sequence. Destructive keys
 * are confirmed first. Each key's verdict is listed as the daemon streams it; every text from the
 * target (lines, hints) goes in with textContent.
 */
import { ApiError, sendSysrq } from "./api.js";
import { KEY_GROUPS, PRESETS, VALID_SEQUENCE, destructiveKeys } from "./keys.js";

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
  /** @param {HTMLDialogElement} dialog @param {() => string | null} currentPort */
  constructor(dialog, currentPort) {
    this.dialog = dialog;
    this.currentPort = currentPort;
    this.busy = false;
    this.keysBox = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-keys"));
    this.presetsBox = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-presets"));
    this.results = /** @type {HTMLOListElement} */ (dialog.querySelector("#sysrq-results"));
    this.status = /** @type {HTMLElement} */ (dialog.querySelector("#sysrq-status"));
    this.form = /** @type {HTMLFormElement} */ (dialog.querySelector("#sysrq-form"));
    this.sequence = /** @type {HTMLInputElement} */ (dialog.querySelector("#sysrq-sequence"));
    this.render();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send(this.sequence.value.trim());
    });
    /** @type {HTMLButtonElement} */ (dialog.querySelector("#sysrq-close")).addEventListener("click", () =>
      dialog.close(),
    );
  }

  open() {
    this.dialog.showModal();
    /** @type {HTMLButtonElement | null} */ (this.keysBox.querySelector("button"))?.focus();
  }

  render() {
    for (const group of KEY_GROUPS) {
      const fieldset = element("fieldset", { class: `keys ${group.id}` });
      fieldset.append(element("legend", {}, group.title));
      for (const { key, label } of group.keys) {
        const button = element("button", {
          type: "button",
          "data-key": key,
          title: `SysRq ${key}: ${label}`,
        });
        button.append(element("kbd", {}, key), document.createTextNode(` ${label}`));
        button.addEventListener("click", () => void this.send(key));
        fieldset.append(button);
      }
      this.keysBox.append(fieldset);
    }
    for (const preset of PRESETS) {
      const button = element("button", { type: "button", title: preset.title }, preset.keys.toUpperCase());
      button.addEventListener("click", () => void this.send(preset.keys));
      this.presetsBox.append(button);
    }
  }

  /** @param {string} keys */
  async send(keys) {
    const port = this.currentPort();
    if (this.busy || port === null) return;
    if (!VALID_SEQUENCE.test(keys)) {
      this.status.textContent = "A sequence is 1 to 32 keys: letters and digits (case matters).";
      return;
    }
    const dangerous = destructiveKeys(keys);
    if (dangerous.length > 0) {
      const question = `Send ${keys} to ${port}? ${dangerous.join(", ")} kill processes, crash, reboot or power off the target.`;
      if (!window.confirm(question)) return;
    }
    this.busy = true;
    this.dialog.setAttribute("aria-busy", "true");
    this.results.replaceChildren();
    this.status.textContent = `Sending ${keys} to ${port}…`;
    let settled = 0;
    try {
      await sendSysrq(port, keys, (result) => {
        settled += 1;
        this.results.append(this.resultItem(result));
      });
      this.status.textContent = `${settled} of ${keys.length} keys settled.`;
    } catch (err) {
      this.status.textContent =
        err instanceof ApiError ? `${err.code}: ${err.message}` : `Request failed: ${String(err)}`;
    } finally {
      this.busy = false;
      this.dialog.removeAttribute("aria-busy");
    }
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
