/**
 * Reads an x86 kernel's answer to an NMI from console lines. Pure.
 *
 *   "Uhhuh. NMI received for unknown reason 21 on CPU 0."   reported; not settled yet
 *   "Dazed and confused, but trying to continue"            settled: the kernel goes on
 *   "NMI: IOCK error ..." / "NMI: PCI system error (SERR)"  settled: a hardware NMI, handled
 *   "Kernel panic - not syncing: NMI..."                    settled: panic (unknown_nmi_panic=1 ...)
 */
export type NmiLine = "reported" | "continuing" | "panic" | null;

export function classifyNmiLine(line: string): NmiLine {
  if (/Kernel panic - not syncing/.test(line)) return "panic";
  if (/Dazed and confused, but trying to continue/.test(line)) return "continuing";
  if (/NMI: (IOCK error|PCI system error)/.test(line)) return "continuing";
  if (/NMI received for unknown reason|Uhhuh\. NMI/.test(line)) return "reported";
  return null;
}

export const NMI_NO_RESPONSE_REASON =
  "no NMI line within timeoutMs: the kernel may be dead, the NMI may not have been delivered, or the kernel " +
  "rate-limits these messages (about 10 per 5 s), so an NMI right after a burst can go unreported";
