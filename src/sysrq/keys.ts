/**
 * The kernel's SysRq key table (drivers/tty/sysrq.c, sysrq_key_table and each op's enable_mask),
 * as data. Keys are case-sensitive: upper-case letters have their own slots (R replays the kernel
 * log on 6.10+), so nothing here lower-cases a key.
 */

/** kernel.sysrq bits (include/linux/sysrq.h SYSRQ_ENABLE_*). */
export const SysrqBit = {
  LOG: 2,
  KEYBOARD: 4,
  DUMP: 8,
  SYNC: 16,
  REMOUNT: 32,
  SIGNAL: 64,
  BOOT: 128,
  RTNICE: 256,
} as const;

const BIT_MEANING: Record<number, string> = {
  [SysrqBit.LOG]: "console log level",
  [SysrqBit.KEYBOARD]: "keyboard control",
  [SysrqBit.DUMP]: "debugging dumps",
  [SysrqBit.SYNC]: "sync",
  [SysrqBit.REMOUNT]: "remount read-only",
  [SysrqBit.SIGNAL]: "signalling processes",
  [SysrqBit.BOOT]: "reboot/poweroff",
  [SysrqBit.RTNICE]: "nicing RT tasks",
};

export interface KeyInfo {
  readonly key: string;
  /** The header the kernel prints when it runs the op ("sysrq: <action>"). */
  readonly action: string;
  /** The enable_mask bit the op needs; null for keys that always pass (h, unknown keys). */
  readonly bit: number | null;
  /** A line printed later that says the op's work is complete, awaited before the next key. */
  readonly completion?: string;
  /** Keys that end the target's life: the result reports what followed. */
  readonly ends?: boolean;
  /** Keys guarded as destructive (they kill, crash, reboot or power off the target). */
  readonly destructive?: boolean;
}

const table: KeyInfo[] = [
  ...Array.from("0123456789", (key) => ({ key, action: "Changing Loglevel", bit: SysrqBit.LOG })),
  { key: "b", action: "Resetting", bit: SysrqBit.BOOT, ends: true, destructive: true },
  { key: "c", action: "Trigger a crash", bit: SysrqBit.DUMP, ends: true, destructive: true },
  { key: "d", action: "Show Locks Held", bit: SysrqBit.DUMP },
  { key: "e", action: "Terminate All Tasks", bit: SysrqBit.SIGNAL, destructive: true },
  { key: "f", action: "Manual OOM execution", bit: SysrqBit.SIGNAL, destructive: true },
  { key: "h", action: "HELP", bit: null },
  { key: "i", action: "Kill All Tasks", bit: SysrqBit.SIGNAL, destructive: true },
  { key: "j", action: "Emergency Thaw of all frozen filesystems", bit: SysrqBit.SIGNAL },
  { key: "k", action: "SAK", bit: SysrqBit.KEYBOARD, destructive: true },
  { key: "l", action: "Show backtrace of all active CPUs", bit: SysrqBit.DUMP },
  { key: "m", action: "Show Memory", bit: SysrqBit.DUMP },
  { key: "n", action: "Nice All RT Tasks", bit: SysrqBit.RTNICE },
  { key: "o", action: "Power Off", bit: SysrqBit.BOOT, ends: true, destructive: true },
  { key: "p", action: "Show Regs", bit: SysrqBit.DUMP },
  { key: "q", action: "Show clockevent devices & pending hrtimers (no others)", bit: SysrqBit.DUMP },
  { key: "r", action: "Keyboard mode set to system default", bit: SysrqBit.KEYBOARD },
  { key: "s", action: "Emergency Sync", bit: SysrqBit.SYNC, completion: "Emergency Sync complete" },
  { key: "t", action: "Show State", bit: SysrqBit.DUMP },
  {
    key: "u",
    action: "Emergency Remount R/O",
    bit: SysrqBit.REMOUNT,
    completion: "Emergency Remount complete",
  },
  { key: "w", action: "Show Blocked State", bit: SysrqBit.DUMP },
  { key: "z", action: "Dump ftrace buffer", bit: SysrqBit.DUMP },
  { key: "R", action: "Replay kernel logs on consoles", bit: SysrqBit.DUMP },
];

/** Every key the table knows, in the kernel's table order (digits, then letters, then R). */
export const KEY_TABLE: readonly KeyInfo[] = table;

const byKey = new Map(table.map((info) => [info.key, info]));

export const VALID_KEYS = /^[0-9A-Za-z]{1,32}$/;

/** What we know of a key; keys without an op of their own make the kernel print HELP. */
export function keyInfo(key: string): KeyInfo {
  return byKey.get(key) ?? { key, action: "HELP", bit: null };
}

/** Mirrors sysrq_on_mask(): 1 enables everything, 0 nothing; h and unknown keys need no bit. */
export function keyAllowedByMask(key: string, mask: number): boolean {
  if (key === "h") return true;
  if (mask === 1) return true;
  const { bit } = keyInfo(key);
  if (bit === null) return mask !== 0;
  return (mask & bit) !== 0;
}

export function bitMeaning(bit: number): string {
  return BIT_MEANING[bit] ?? `bit ${bit}`;
}

/** The hint for a `disabled` verdict: which bit is missing and how to enable it. */
export function disabledHint(bit: number): string {
  return `kernel.sysrq lacks ${bit} (${bitMeaning(bit)}); sysctl kernel.sysrq=1 enables all, or add ${bit} to the current mask`;
}
