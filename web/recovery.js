// @ts-check
/**
 * Recovery in the page: the plain-words questions asked before destructive actions, and the
 * incident view (kinds, trigger, ladder steps with verdicts, outcome, report). Every text from the
 * daemon or the target goes in with textContent, never as markup.
 */
import { ApiError, downloadDump, getIncident } from "./api.js";

/** @type {Record<string, string>} */
const POWER_EFFECT = {
  off: "cuts its power: whatever runs on it stops at once, without syncing or unmounting",
  cycle: "cuts its power and turns it back on: it reboots without syncing or unmounting",
  reset: "resets it: it reboots at once, without syncing or unmounting",
};

/**
 * The question asked before a power action, or null when the action needs none (power on).
 * @param {string} port @param {string} action
 * @returns {string | null}
 */
export function powerQuestion(port, action) {
  const effect = POWER_EFFECT[action];
  return effect === undefined ? null : `Power ${action} ${port}? This ${effect}.`;
}

/** @param {string} port */
export function recoverQuestion(port) {
  return (
    `Run ${port}'s recovery ladder? Its steps may send SysRq keys, an NMI or a power action: ` +
    "the target may reboot without syncing or unmounting."
  );
}

/** @param {HTMLElement} parent @param {string} tag @param {string} text @param {string} [className] */
function add(parent, tag, text, className = "") {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className !== "") node.className = className;
  parent.append(node);
  return node;
}

/** @param {HTMLDialogElement} dialog @param {string} selector @returns {HTMLElement} */
function part(dialog, selector) {
  const node = dialog.querySelector(selector);
  if (!(node instanceof HTMLElement)) throw new Error(`incident dialog is missing ${selector}`);
  return node;
}

/**
 * Whether a `qemu-dump` step wrote the incident's memory dump (GET /incidents/:id/dump serves it).
 * @param {import("./api.js").Incident} incident
 */
export function hasDump(incident) {
  return incident.steps.some((step) => step.step === "qemu-dump" && step.verdict === "done");
}

export class IncidentView {
  /** @param {HTMLDialogElement} dialog @param {() => boolean} isAdmin the dump is admin only */
  constructor(dialog, isAdmin = () => false) {
    this.dialog = dialog;
    this.isAdmin = isAdmin;
    /** @type {string | null} the incident shown; refresh() reads it again */
    this.id = null;
    this.title = part(dialog, "#incident-title");
    this.kinds = part(dialog, "#incident-kinds");
    this.state = part(dialog, "#incident-state");
    this.outcome = part(dialog, "#incident-outcome");
    this.trigger = part(dialog, "#incident-trigger");
    this.steps = part(dialog, "#incident-steps");
    this.report = part(dialog, "#incident-report");
    this.context = part(dialog, "#incident-context");
    this.dump = /** @type {HTMLButtonElement} */ (part(dialog, "#incident-dump"));
    this.dumpLink = /** @type {HTMLAnchorElement} */ (part(dialog, "#incident-dump-link"));
    this.dumpStatus = part(dialog, "#incident-dump-status");
    this.dump.addEventListener("click", () => void this.saveDump());
    part(dialog, "#incident-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      this.id = null;
    });
  }

  /** @param {string} id */
  open(id) {
    this.id = id;
    this.title.textContent = `Incident ${id}`;
    if (!this.dialog.open) this.dialog.showModal();
    void this.refresh();
  }

  /** Fetches the dump with the token's header and saves it as a file (a link cannot carry the token). */
  async saveDump() {
    const id = this.id;
    if (id === null) return;
    this.dumpStatus.textContent = "Reading the memory dump…";
    try {
      const blob = await downloadDump(id);
      const url = URL.createObjectURL(blob);
      this.dumpLink.href = url;
      this.dumpLink.download = `incident-${id}.kdump`;
      this.dumpLink.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.dumpStatus.textContent = `Memory dump: ${blob.size} bytes downloaded.`;
    } catch (err) {
      this.dumpStatus.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
    }
  }

  /** Reads the shown incident again (the page calls this when an event names it). */
  async refresh() {
    const id = this.id;
    if (id === null) return;
    try {
      const incident = await getIncident(id);
      if (this.id === id) this.render(incident);
    } catch (err) {
      this.state.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
    }
  }

  /** @param {import("./api.js").Incident} incident */
  render(incident) {
    this.title.textContent = `Incident ${incident.id} on ${incident.port}`;
    this.kinds.textContent = incident.kinds.join(", ");
    this.state.textContent = incident.state === "closed" ? `closed ${incident.closed ?? ""}` : "open";
    this.outcome.textContent =
      incident.outcome ?? (incident.steps.length > 0 ? "ladder running" : "none yet");
    this.outcome.dataset["outcome"] = incident.outcome ?? "";
    this.trigger.textContent = incident.trigger.line;
    this.steps.replaceChildren();
    for (const step of incident.steps) {
      const item = add(this.steps, "li", "", `verdict-${step.verdict}`);
      item.dataset["step"] = step.step;
      add(item, "span", step.step, "step");
      add(item, "span", step.verdict, "verdict");
      add(item, "span", `${Math.round(step.ms)} ms`, "detail");
      if (step.output.length > 0) add(item, "pre", step.output.join("\n"), "output");
    }
    if (incident.steps.length === 0) add(this.steps, "li", "no steps (no ladder ran)", "detail none");
    this.report.textContent =
      incident.report.join("\n") +
      (incident.truncated ? "\n… (cut at its bound; the rest is in the capture)" : "");
    this.context.textContent = incident.context.join("\n");
    const dump = hasDump(incident);
    this.dump.hidden = !dump;
    this.dump.disabled = !this.isAdmin();
    this.dump.title = this.isAdmin() ? "" : "needs the admin role (guest memory may hold secrets)";
    // The lines nearest the trigger are the ones that matter: show the end.
    this.context.scrollTop = this.context.scrollHeight;
  }
}
