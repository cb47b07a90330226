// @ts-check
/**
 * The web console page: the port list, the selected port's terminal and its actions. Everything
 * that came from the daemon or the target is put on the page with textContent, never as markup.
 */
import {
  ApiError,
  downloadCapture,
  listOpenIncidents,
  listPorts,
  powerPort,
  probePort,
  recoverPort,
  roleAtLeast,
  saveToken,
  savedToken,
  sendNmi,
} from "./api.js";
import { ConsoleView } from "./console.js";
import { EventFollower } from "./events.js";
import { nmiQuestion } from "./keys.js";
import { IncidentView, powerQuestion, recoverQuestion } from "./recovery.js";
import { SysrqDialog } from "./sysrq-dialog.js";

// Health and incidents follow GET /events; only when the daemon refuses the stream (429
// TOO_MANY_STREAMS) does the page poll instead, one poll at a time, every 3 s (2 requests), and it
// asks for the stream again after a while.
const POLL_MS = 3000;
const STREAM_RETRY_MS = 60_000;

/** @template {HTMLElement} T @param {string} id @returns {T} */
function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`page is missing #${id}`);
  return /** @type {T} */ (node);
}

const ui = {
  tokenForm: /** @type {HTMLFormElement} */ (byId("token-form")),
  token: /** @type {HTMLInputElement} */ (byId("token")),
  signOut: /** @type {HTMLButtonElement} */ (byId("sign-out")),
  ports: byId("ports"),
  portsStatus: byId("ports-status"),
  live: byId("live-status"),
  section: byId("port"),
  title: byId("port-title"),
  leaseStatus: byId("lease-status"),
  notice: byId("notice"),
  take: /** @type {HTMLButtonElement} */ (byId("lease-take")),
  release: /** @type {HTMLButtonElement} */ (byId("lease-release")),
  sysrq: /** @type {HTMLButtonElement} */ (byId("open-sysrq")),
  sendBreak: /** @type {HTMLButtonElement} */ (byId("send-break")),
  nmi: /** @type {HTMLButtonElement} */ (byId("send-nmi")),
  download: /** @type {HTMLButtonElement} */ (byId("download")),
  downloadLink: /** @type {HTMLAnchorElement} */ (byId("download-link")),
  probe: /** @type {HTMLButtonElement} */ (byId("probe")),
  recover: /** @type {HTMLButtonElement} */ (byId("recover")),
  power: /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll("button.power")]),
};

/** @type {import("./api.js").PortInfo[]} */
let ports = [];
/** @type {string | null} */
let selected = null;
/**
 * What the list shows of an open incident (GET /incidents and the events both give this much).
 * @typedef {{ id: string, kinds: string[], trigger: string }} OpenIncident
 */
/** Each port's open incidents, oldest first. @type {Map<string, OpenIncident[]>} */
let openIncidents = new Map();

/**
 * The line under the toolbar; its kind sets its colour (success green, warning amber, error red).
 * @param {string} text @param {import("./console.js").NoticeKind} [kind]
 */
function notice(text, kind = "info") {
  ui.notice.textContent = text;
  ui.notice.dataset["kind"] = kind === "lease" ? "warning" : kind;
  ui.notice.dataset["topic"] = kind === "lease" ? "lease" : "";
}

/** @type {string | null} */
let shownHolder = null;
/** @param {import("./console.js").ConsoleState} state */
function consoleState(state) {
  renderActions(state);
  // "Take the writer lease to type" is answered once the lease is ours.
  if (state.yours && ui.notice.dataset["topic"] === "lease") notice("");
  const holder = state.lease?.holder ?? null;
  if (holder !== shownHolder) {
    shownHolder = holder;
    void refreshPorts(); // the list shows the holder and viewers too
  }
}

const consoleView = new ConsoleView(byId("terminal"), { onState: consoleState, onNotice: notice });
const incidentView = new IncidentView(/** @type {HTMLDialogElement} */ (byId("incident-dialog")), () =>
  roleAtLeast(consoleView.state.role ?? "read", "admin"),
);
const dialog = new SysrqDialog(
  /** @type {HTMLDialogElement} */ (byId("sysrq-dialog")),
  () => selected,
  () => consoleView.state.role,
);

/** @param {import("./console.js").ConsoleState} [state] */
function renderActions(state = consoleView.state) {
  const port = ports.find((p) => p.id === selected);
  const role = state.role ?? "read";
  const operate = state.connected && roleAtLeast(role, "operate");
  const lease = state.lease;
  ui.leaseStatus.textContent = !state.connected
    ? "not connected"
    : state.yours
      ? "You hold the writer lease: type in the terminal."
      : lease === null
        ? "Writer lease free: take it to type."
        : `Writer: ${lease.holder} (${lease.via})`;
  ui.take.hidden = state.yours;
  ui.release.hidden = !state.yours;
  ui.take.disabled = !operate || (lease !== null && !roleAtLeast(role, "admin"));
  ui.take.textContent = lease !== null && !state.yours ? "Take over writer lease" : "Take writer lease";
  ui.sysrq.disabled = !operate || port?.capabilities.sysrq.available === false;
  // A console BREAK needs the writer lease, as typing does (the daemon refuses it otherwise).
  ui.sendBreak.disabled = !operate || !state.yours || port?.capabilities.break.available === false;
  ui.nmi.disabled =
    !state.connected || !roleAtLeast(role, "admin") || port?.capabilities.nmi.available !== true;
  ui.nmi.title = port?.capabilities.nmi.reason ?? "";
  ui.probe.disabled = !state.connected || !roleAtLeast(role, "operate");
  ui.probe.title = roleAtLeast(role, "operate") ? "" : "needs the operate role";
  const admin = state.connected && roleAtLeast(role, "admin");
  // A port without a recover block has no ladder: the daemon would answer 409 RECOVERY_UNCONFIGURED.
  const ladder = port?.capabilities.recover?.configured !== false;
  ui.recover.disabled = !admin || !ladder;
  ui.recover.title = !roleAtLeast(role, "admin")
    ? "needs the admin role"
    : ladder
      ? ""
      : "no recovery ladder: this port has no recover block in the config (docs/recovery.md)";
  const power = port?.capabilities.power;
  for (const button of ui.power) {
    const action = button.dataset["action"] ?? "";
    const offered = power?.available === true && (power.actions ?? []).includes(action);
    button.disabled = !admin || !offered;
    button.title = !roleAtLeast(role, "admin")
      ? "needs the admin role"
      : offered
        ? `through ${power?.method ?? "the power channel"}`
        : (power?.reason ?? `the power channel cannot ${action}`);
  }
}

/** @param {string} text @param {string} [className] */
function span(text, className = "") {
  const node = document.createElement("span");
  node.textContent = text;
  if (className !== "") node.className = className;
  return node;
}

/** @param {import("./api.js").Capability} capability @param {string} name */
function capabilityBadge(capability, name) {
  const badge = span(name, capability.available ? "cap on" : "cap off");
  badge.title = capability.available
    ? `${name}: ${capability.method ?? "available"}`
    : `${name}: ${capability.reason ?? "not available"}`;
  return badge;
}

function renderPorts() {
  ui.ports.replaceChildren(
    ...ports.map((port) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "port";
      button.dataset["port"] = port.id;
      if (port.id === selected) button.setAttribute("aria-current", "true");
      const caps = span("", "caps");
      caps.append(
        capabilityBadge(port.capabilities.sysrq, "SysRq"),
        capabilityBadge(port.capabilities.break, "BREAK"),
        capabilityBadge(port.capabilities.nmi, "NMI"),
      );
      const lease = port.lease === null ? "lease free" : `writer: ${port.lease.holder}`;
      button.append(
        span(port.id, "name"),
        span(`${port.state} · ${port.kind} ${port.target}`, `state ${port.state}`),
        caps,
        span(`${lease} · ${port.viewers} viewer${port.viewers === 1 ? "" : "s"}`, "meta"),
      );
      if (port.health !== undefined) button.append(span(`health ${port.health}`, `health ${port.health}`));
      if (port.reason !== undefined) button.title = port.reason;
      button.addEventListener("click", () => select(port.id));
      const item = document.createElement("li");
      item.append(button);
      // The newest open incident; a button of its own (a button cannot hold another).
      const incident = openIncidents.get(port.id)?.at(-1);
      if (incident !== undefined) {
        const open = document.createElement("button");
        open.type = "button";
        open.className = "incident";
        open.dataset["incident"] = incident.id;
        open.textContent = `Open incident ${incident.id}: ${incident.kinds.join(", ")}`;
        open.title = incident.trigger;
        open.addEventListener("click", () => incidentView.open(incident.id));
        item.append(open);
      }
      return item;
    }),
  );
}

/** @param {string} id */
function select(id) {
  if (id === selected) return consoleView.focus();
  selected = id;
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  ui.section.hidden = false;
  ui.title.textContent = id;
  notice("");
  consoleView.attach(id);
  renderPorts();
  renderActions();
  consoleView.focus();
}

/** The poll's incidents: a failure leaves the last list (the port list reports errors). */
async function refreshIncidents() {
  try {
    /** @type {Map<string, OpenIncident[]>} */
    const byPort = new Map();
    for (const incident of (await listOpenIncidents()).incidents) {
      const shown = { id: incident.id, kinds: incident.kinds, trigger: incident.trigger.line };
      byPort.set(incident.port, [...(byPort.get(incident.port) ?? []), shown]);
    }
    openIncidents = byPort;
  } catch {
    // kept as it was; the next poll tries again
  }
}

async function refreshPorts() {
  try {
    [ports] = await Promise.all([listPorts(), refreshIncidents()]);
    void incidentView.refresh();
    // The token works: fetch the SysRq key table now, so the dialog opens with its keys in place (a
    // failure is retried, and reported, when the dialog opens).
    dialog.load().catch(() => undefined);
    ui.tokenForm.hidden = true;
    ui.signOut.hidden = savedToken() === null;
    ui.portsStatus.textContent = ports.length === 0 ? "No ports configured." : "";
    renderPorts();
    renderActions();
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (selected === null && ports.length > 0)
      select(ports.some((p) => p.id === wanted) ? wanted : (ports[0]?.id ?? ""));
    if (follower === null && retryTimer === null) followEvents(); // the token works: follow the events from now on
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      ui.tokenForm.hidden = false;
      ui.portsStatus.textContent =
        savedToken() === null ? "This daemon needs a token." : "That token was refused.";
      ui.token.focus();
    } else {
      ui.portsStatus.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
    }
  }
}

ui.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  saveToken(ui.token.value.trim());
  ui.token.value = "";
  selected = null;
  stopEvents(); // followed again, with the new token, once it works
  void refreshPorts();
});
ui.signOut.addEventListener("click", () => {
  saveToken(null);
  consoleView.detach();
  location.reload();
});
ui.take.addEventListener("click", () => consoleView.takeLease(consoleView.state.lease !== null));
ui.release.addEventListener("click", () => consoleView.releaseLease());
ui.sysrq.addEventListener("click", () => dialog.open());
ui.sendBreak.addEventListener("click", () => {
  consoleView.sendBreak();
  consoleView.focus();
});
ui.nmi.addEventListener("click", () => {
  const port = selected;
  if (port === null) return;
  if (!window.confirm(nmiQuestion(port))) return;
  notice(`Sending NMI to ${port}…`);
  sendNmi(port).then(
    (result) =>
      notice(
        `NMI: ${result.verdict}${result.line ? ` — ${result.line}` : ""}`,
        result.verdict === "acknowledged" ? "success" : result.verdict === "panic" ? "error" : "warning",
      ),
    (err) =>
      notice(
        err instanceof ApiError ? `NMI: ${err.code}: ${err.message}` : `NMI failed: ${String(err)}`,
        "error",
      ),
  );
});
ui.download.addEventListener("click", () => {
  const port = selected;
  if (port === null) return;
  notice(`Reading the capture of ${port}…`);
  downloadCapture(port).then(
    (blob) => {
      const url = URL.createObjectURL(blob);
      ui.downloadLink.href = url;
      ui.downloadLink.download = `${port}-capture.bin`;
      ui.downloadLink.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      notice(`Capture of ${port}: ${blob.size} bytes downloaded.`, "success");
    },
    (err) =>
      notice(
        err instanceof ApiError ? `${err.code}: ${err.message}` : `Download failed: ${String(err)}`,
        "error",
      ),
  );
});

ui.probe.addEventListener("click", () => {
  const port = selected;
  if (port === null) return;
  notice(`Probing ${port}…`);
  probePort(port).then(
    (result) =>
      notice(
        `Probe of ${port}: kernel ${result.kernel}, userspace ${result.userspace}` +
          (result.vm === undefined ? "" : `, VM ${result.vm}`),
        result.kernel === "alive" ? "success" : "warning",
      ),
    (err) =>
      notice(
        err instanceof ApiError ? `Probe: ${err.code}: ${err.message}` : `Probe failed: ${String(err)}`,
        "error",
      ),
  );
});
ui.recover.addEventListener("click", () => {
  const port = selected;
  if (port === null || !window.confirm(recoverQuestion(port))) return;
  notice(`Starting ${port}'s recovery ladder…`);
  recoverPort(port).then(
    ({ incident }) => {
      notice(`Recovery of ${port} runs as incident ${incident.id}.`, "success");
      incidentView.open(incident.id); // its steps and the port's health follow from the events
    },
    (err) =>
      notice(
        err instanceof ApiError ? `Recover: ${err.code}: ${err.message}` : `Recover failed: ${String(err)}`,
        "error",
      ),
  );
});
for (const button of ui.power)
  button.addEventListener("click", () => {
    const port = selected;
    const action = button.dataset["action"] ?? "";
    if (port === null) return;
    const question = powerQuestion(port, action);
    if (question !== null && !window.confirm(question)) return;
    notice(`Power ${action} ${port}…`);
    powerPort(port, action).then(
      (result) =>
        notice(
          `Power ${action}: ${result.verdict}` +
            (result.evidence.banner
              ? ` — ${result.evidence.banner}`
              : result.evidence.reason
                ? ` — ${result.evidence.reason}`
                : ""),
          result.verdict === "done" ? "success" : "warning",
        ),
      (err) =>
        notice(
          err instanceof ApiError
            ? `Power ${action}: ${err.code}: ${err.message}`
            : `Power failed: ${String(err)}`,
          "error",
        ),
    );
  });

/** @param {unknown} value */
const text = (value) => (typeof value === "string" ? value : "");

/** An incident event's summary: the list keeps it while open; the view re-reads the one it shows. */
/** @param {Record<string, unknown>} data */
function applyIncident(data) {
  const id = text(data["id"]);
  const port = text(data["port"]);
  const kinds = Array.isArray(data["kinds"]) ? data["kinds"].map(text) : [];
  const others = (openIncidents.get(port) ?? []).filter((i) => i.id !== id);
  const list = data["state"] === "open" ? [...others, { id, kinds, trigger: text(data["trigger"]) }] : others;
  list.sort((a, b) => Number(a.id) - Number(b.id));
  if (list.length > 0) openIncidents.set(port, list);
  else openIncidents.delete(port);
  if (incidentView.id === id) void incidentView.refresh();
}

/** One event from GET /events applied to the list, with no request but for what it names. */
/** @param {import("./events.js").SseEvent} event */
function applyEvent(event) {
  const data = event.data;
  const port = ports.find((p) => p.id === data["port"]);
  switch (event.event) {
    case "port.state":
      if (data["state"] === "removed") ports = ports.filter((p) => p.id !== data["port"]);
      else if (port === undefined)
        void refreshPorts(); // a port a reload added: its whole entry
      else port.state = text(data["state"]);
      break;
    case "port.health": {
      const health = data["health"];
      if (port !== undefined && (health === "good" || health === "recovering" || health === "bad"))
        port.health = health;
      break;
    }
    case "incident.opened":
    case "incident.updated":
    case "incident.closed":
      applyIncident(data);
      break;
    case "missed":
      // Events were lost while away: read the whole state again; what follows is live.
      void refreshPorts();
      return;
    default:
      return; // `cut`: the follower reconnects; anything newer: not for this page
  }
  renderPorts();
  renderActions();
}

/** @param {string} message @param {"stream" | "reconnecting" | "poll"} mode */
function liveStatus(message, mode) {
  ui.live.textContent = message;
  ui.live.dataset["live"] = mode;
}

/** @type {EventFollower | null} */
let follower = null;
/** @type {ReturnType<typeof setInterval> | null} */
let pollTimer = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let retryTimer = null;

function stopPolling() {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

function followEvents() {
  const current = new EventFollower({
    onEvent: applyEvent,
    onOpen: (resumed) => {
      stopPolling();
      liveStatus("Live: following the daemon's events.", "stream");
      // The first time, the list is read once the stream is open, so no change falls between.
      if (!resumed) void refreshPorts();
    },
    onDrop: (retryMs) =>
      liveStatus(
        `Event stream dropped: reconnecting in ${Math.round(retryMs / 100) / 10} s…`,
        "reconnecting",
      ),
    onRefused: (err) => {
      if (follower !== current) return;
      follower = null;
      if (err.status === 401) {
        void refreshPorts(); // shows the token form
        return;
      }
      // Refused (e.g. TOO_MANY_STREAMS): poll instead, and ask for the stream again later.
      liveStatus(`Live events refused (${err.code}: ${err.message}); polling every 3 s instead.`, "poll");
      if (pollTimer === null) pollTimer = setInterval(() => void poll(), POLL_MS);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        followEvents();
      }, STREAM_RETRY_MS);
    },
  });
  follower = current;
  void current.run();
}

function stopEvents() {
  follower?.stop();
  follower = null;
  if (retryTimer !== null) clearTimeout(retryTimer);
  retryTimer = null;
  stopPolling();
}

// Bounded polling (the fallback): a tick is skipped while the last one is still waiting for the daemon.
let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    await refreshPorts();
  } finally {
    polling = false;
  }
}
void poll();
