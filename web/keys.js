// @ts-check
/**
 * The SysRq keys the dialog offers, grouped by what they do to the target (mirrors the kernel table
 * in src/sysrq/keys.ts; the daemon still checks every key against the caller's role).
 */

/** @typedef {{ key: string, label: string }} KeyButton */

/** @type {{ id: string, title: string, destructive: boolean, keys: KeyButton[] }[]} */
export const KEY_GROUPS = [
  {
    id: "harmless",
    title: "Harmless",
    destructive: false,
    keys: [
      { key: "h", label: "Help" },
      { key: "9", label: "Log level 9" },
      { key: "0", label: "Log level 0" },
      { key: "s", label: "Sync" },
      { key: "u", label: "Remount R/O" },
      { key: "j", label: "Thaw filesystems" },
      { key: "r", label: "Keyboard mode" },
      { key: "n", label: "Nice RT tasks" },
    ],
  },
  {
    id: "dumps",
    title: "Dumps",
    destructive: false,
    keys: [
      { key: "t", label: "Task states" },
      { key: "w", label: "Blocked tasks" },
      { key: "m", label: "Memory" },
      { key: "l", label: "CPU backtraces" },
      { key: "p", label: "Registers" },
      { key: "d", label: "Locks held" },
      { key: "q", label: "Timers" },
      { key: "z", label: "ftrace buffer" },
    ],
  },
  {
    id: "destructive",
    title: "Destructive",
    destructive: true,
    keys: [
      { key: "e", label: "Terminate all tasks" },
      { key: "i", label: "Kill all tasks" },
      { key: "f", label: "OOM kill" },
      { key: "k", label: "SAK" },
      { key: "c", label: "Crash" },
      { key: "o", label: "Power off" },
      { key: "b", label: "Reboot" },
    ],
  },
];

const DESTRUCTIVE = new Set("bceikfo");

/** @param {string} keys */
export function destructiveKeys(keys) {
  return [...new Set(Array.from(keys).filter((key) => DESTRUCTIVE.has(key)))];
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
