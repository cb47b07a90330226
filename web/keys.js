// @ts-check
/**
 * What the dialog does with the daemon's key table (GET /sysrq/keys, built from src/sysrq/keys.ts):
 * groups it for display, finds the destructive keys of a sequence and the role a sequence needs.
 * The page keeps no key table of its own; the daemon still checks every key against the caller's role.
 */

/** @typedef {import("./api.js").SysrqKey} SysrqKey */
/** @typedef {{ action: string, keys: SysrqKey[] }} KeyRun Keys side by side with the same action. */
/** @typedef {{ id: string, title: string, destructive: boolean, runs: KeyRun[] }} KeyGroup */

/** @type {Readonly<Record<string, string>>} */
const GROUP_TITLES = { harmless: "Harmless", dumps: "Dumps", destructive: "Destructive" };

/**
 * The daemon's groups in its order; within a group, neighbours with the same action (the log levels
 * 0-9) share one run, so the dialog shows the action once.
 * @param {readonly SysrqKey[]} table @returns {KeyGroup[]}
 */
export function keyGroups(table) {
  /** @type {KeyGroup[]} */
  const groups = [];
  for (const entry of table) {
    let group = groups.at(-1);
    if (group?.id !== entry.group) {
      group = {
        id: entry.group,
        title: GROUP_TITLES[entry.group] ?? entry.group,
        destructive: entry.destructive,
        runs: [],
      };
      groups.push(group);
    }
    const run = group.runs.at(-1);
    if (run?.action === entry.action) run.keys.push(entry);
    else group.runs.push({ action: entry.action, keys: [entry] });
  }
  return groups;
}

/**
 * The destructive keys of a sequence, each once. Keys the table lacks are not destructive (the
 * kernel answers them with its HELP list), as in the daemon.
 * @param {string} keys @param {readonly SysrqKey[]} table
 */
export function destructiveKeys(keys, table) {
  const destructive = new Set(table.filter((entry) => entry.destructive).map((entry) => entry.key));
  return [...new Set(Array.from(keys).filter((key) => destructive.has(key)))];
}

/**
 * The least role that may send the whole sequence: the highest any of its keys needs.
 * @param {string} keys @param {readonly SysrqKey[]} table @returns {string}
 */
export function roleForSequence(keys, table) {
  const needs = new Map(table.map((entry) => [entry.key, entry.role]));
  return Array.from(keys).some((key) => needs.get(key) === "admin") ? "admin" : "operate";
}

/**
 * What each destructive key does to the target, for the confirmation question. A key missing here
 * (a newer table) is described by its action.
 * @type {Readonly<Record<string, string>>}
 */
const CONSEQUENCES = {
  b: "reboots the target immediately, without syncing or unmounting",
  c: "crashes the kernel (a panic, or kdump if one is loaded)",
  e: "sends SIGTERM to every process except init",
  f: "runs the OOM killer, which kills the process using the most memory",
  i: "kills every process except init (SIGKILL)",
  k: "kills every process on the current virtual console (SAK)",
  o: "powers the target off immediately, without syncing or unmounting",
};

/**
 * The question asked before a sequence with destructive keys goes out:
 * "Send b to vm0? SysRq b (Resetting) reboots the target immediately, without syncing or unmounting."
 * @param {string} keys @param {string} port @param {readonly SysrqKey[]} table
 */
export function confirmationText(keys, port, table) {
  const actions = new Map(table.map((entry) => [entry.key, entry.action]));
  const effects = destructiveKeys(keys, table).map(
    (key) =>
      `SysRq ${key} (${actions.get(key) ?? "?"}) ${CONSEQUENCES[key] ?? "ends processes or the system"}`,
  );
  return `Send ${keys} to ${port}? ${effects.join("; ")}.`;
}

/**
 * The keys a kernel's HELP line offers ("sysrq: HELP : loglevel(0-9) reboot(b) ..."), h included,
 * as the daemon reads them (src/sysrq/verdict.ts keysFromHelp).
 * @param {string} line @returns {Set<string>}
 */
export function keysFromHelp(line) {
  const body = line.slice(line.indexOf("HELP"));
  const keys = new Set(["h"]);
  if (body.includes("(0-9)")) for (const digit of "0123456789") keys.add(digit);
  for (const match of body.matchAll(/\(([0-9A-Za-z])\)/g)) keys.add(match[1] ?? "");
  return keys;
}

/** The question asked before an NMI goes out. @param {string} port */
export function nmiQuestion(port) {
  return `Send an NMI to ${port}? A kernel set to panic on NMI (kernel.unknown_nmi_panic or panic_on_io_nmi) will crash.`;
}

/** @param {number} count @param {string} noun @returns {string} "1 key", "3 keys" */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** @type {{ keys: string, title: string }[]} */
export const PRESETS = [
  {
    keys: "REISUB".toLowerCase(),
    title: "REISUB: the safe reboot (unRaw, tErminate, kIll, Sync, Unmount, reBoot)",
  },
  { keys: "sub", title: "SUB: sync, remount read-only, reboot" },
  { keys: "9tw", title: "Hang report: log level 9, task states, blocked tasks" },
];

export const VALID_SEQUENCE = /^[0-9A-Za-z]{1,32}$/;
