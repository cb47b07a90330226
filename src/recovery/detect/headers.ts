/**
 * The kernel's own report headers, from its printk format strings (Linux 6.1 unless noted), matched
 * at the start of the kernel message (kernel-line.ts finds it). Order matters: the first match wins,
 * so the specific `BUG:` forms come before the catch-all.
 */
import type { INCIDENT_KINDS, KERNEL_KINDS } from "../../config/types.js";

export type KernelKind = (typeof KERNEL_KINDS)[number];
/** Every kind an incident can carry: the config's watch kinds and `probe`. */
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

const HEADERS: readonly (readonly [KernelKind, RegExp])[] = [
  ["panic", /^Kernel panic - not syncing/], // kernel/panic.c panic()
  ["oops", /^Oops: /], // arch/x86/kernel/dumpstack.c __die_header()
  ["oops", /^BUG: unable to handle /], // arch/x86/mm/fault.c show_fault_oops()
  ["oops", /^BUG: kernel NULL pointer dereference/], // same, address < PAGE_SIZE
  ["oops", /^general protection fault/], // arch/x86/kernel/traps.c
  ["oops", /^kernel BUG at /], // lib/bug.c report_bug()
  ["oops", /^invalid opcode: /], // arch/x86/kernel/traps.c do_error_trap()
  ["wq-lockup", /^BUG: workqueue lockup/], // kernel/workqueue.c wq_watchdog_timer_fn()
  ["soft-lockup", /^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for \d+s!/], // kernel/watchdog.c
  ["bug", /^BUG: (?:KASAN|KFENCE|KCSAN): /], // mm/kasan/report.c, mm/kfence/report.c, kernel/kcsan/report.c
  ["bug", /^UBSAN: /], // lib/ubsan.c ubsan_prologue()
  ["bug", /^BUG: /], // everything else the kernel calls a BUG (sleeping function, scheduling while atomic...)
  ["warning", /^WARNING: CPU: \d+ PID: \d+/], // kernel/panic.c __warn()
  ["hard-lockup", /^(?:NMI watchdog: )?Watchdog detected hard LOCKUP on cpu \d+/], // kernel/watchdog_hld.c
  // kernel/rcu/tree_stall.h print_cpu_stall() / print_other_cpu_stall(), tree_exp.h, tasks.h
  ["rcu-stall", /^(?:rcu: )?INFO: rcu_(?:sched|preempt|bh|tasks\w*) (?:self-)?detected (?:expedited )?stall/],
  ["hung-task", /^INFO: task .+:\d+ blocked for more than \d+ seconds\./], // kernel/hung_task.c
  ["oom", /^.{0,40}invoked oom-killer: /], // mm/oom_kill.c dump_header(): "%s invoked oom-killer: ..."
  ["oom", /^(?:Memory cgroup )?out of memory: Killed process/i], // mm/oom_kill.c __oom_kill_process()
  ["nmi", /^Uhhuh\. NMI received/], // arch/x86/kernel/nmi.c unknown_nmi_error()
];

/** `------------[ cut here ]------------`: lib/bug.c, printed before a WARNING or a kernel BUG. */
export const CUT_HERE = /^-+\[ cut here \]-+$/;
/** `---[ end trace 0000000000000000 ]---`, `---[ end Kernel panic - not syncing: ... ]---`. */
export const REPORT_END = /^---\[ end |end trace [0-9a-f]+ \]---/;
/** kernel/reboot.c: a restart or power-down the kernel announced, so the next banner is expected. */
export const ANNOUNCED_REBOOT = /^reboot: (?:Restarting system|Power down)/;

/** A kernel's boot banner (init/version.c linux_banner) or a firmware's: a new boot begins. */
export type Banner = "linux" | "firmware";

export function bannerOf(message: string, text: string): Banner | null {
  if (/^Linux version \d/.test(message)) return "linux";
  if (/^SeaBIOS \(version /.test(text) || /^U-Boot (?:SPL )?\d{4}\.\d{2}/.test(text)) return "firmware";
  return null;
}

/** The kind a kernel message announces, or null. */
export function headerKind(message: string): KernelKind | null {
  // Nearly every line is ordinary: one cheap test on the first character before the table.
  const first = message.charCodeAt(0);
  if (!(first >= 0x41 && first <= 0x5a) && !(first >= 0x61 && first <= 0x7a)) return null;
  for (const [kind, re] of HEADERS) if (re.test(message)) return kind;
  return null;
}
