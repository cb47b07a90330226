/**
 * A byte-level test that lets the watcher skip nearly every console line without decoding it: a line
 * matters only if, where the kernel's message starts (after a printk timestamp in the line's first
 * bytes, or at the line start), it begins with one of the prefixes of headers.ts, or is a
 * `NAME invoked oom-killer:` line. At capture rates (4 KiB binary lines in `npm run bench`) decoding
 * and running a dozen regexes per line cost 15 ms per MB, several times the capture's own cost.
 * Must say yes to every line classifier.ts could act on (the unit tests replay the fixtures both ways).
 */

/**
 * A glued prompt before the timestamp is short (busybox's "/ # ESC[6n" is 8 bytes): the timestamp must
 * start within this many bytes. Each byte read costs (~2.5 ns): at 4096 lines per MB of the bench's
 * stream, every byte looked at per line is 10 µs per MB.
 */
const TIMESTAMP_WITHIN = 24;

const PREFIXES = [
  "Kernel panic",
  "Oops: ",
  "BUG: ",
  "general protection fault",
  "kernel BUG at ",
  "invalid opcode: ",
  "watchdog: BUG: ",
  "UBSAN: ",
  "WARNING: CPU: ",
  "NMI watchdog: Watchdog",
  "Watchdog detected",
  "rcu: INFO: ",
  "INFO: ",
  "Memory cgroup out",
  "out of memory",
  "Out of memory",
  "OUT OF MEMORY",
  "Uhhuh",
  "Linux version",
  "reboot: ",
  "---", // "---[ end trace", "------------[ cut here ]------------"
].map((p) => Buffer.from(p, "latin1"));
/** Banners printed by firmware, without a timestamp even on a console that has them. */
const UNSTAMPED = ["SeaBIOS", "U-Boot"].map((p) => Buffer.from(p, "latin1"));
const OOM = Buffer.from(" invoked oom-killer:", "latin1");
/** Horspool's shifts for OOM: how far the needle may move on, by the byte under its last one. */
const OOM_SHIFT = new Uint8Array(256).fill(OOM.length);
for (let k = 0; k < OOM.length - 1; k += 1) OOM_SHIFT[OOM[k] as number] = OOM.length - 1 - k;
/**
 * The OOM line's two bytes at its message's offsets 16 and 19, for every comm length (0 to 16): each
 * pair the needle can put there. Both offsets lie inside the needle wherever it starts, so one lookup
 * rules out nearly every line before Horspool reads anything.
 */
const OOM_PROBES = new Uint8Array(65536);
for (let comm = 0; comm <= 16; comm += 1)
  OOM_PROBES[(OOM[16 - comm] as number) * 256 + (OOM[19 - comm] as number)] = 1;
/** The bytes a printk timestamp is made of. */
const IN_TIMESTAMP = new Uint8Array(256);
for (const c of "[]. 0123456789") IN_TIMESTAMP[c.charCodeAt(0)] = 1;
/** "[0.0]": a timestamp is at least this long, all of it IN_TIMESTAMP bytes. */
const SHORTEST_TIMESTAMP = 5;

interface PrefixTable {
  /** 1 where some prefix starts with these two bytes (first * 256 + second): most lines end there. */
  readonly pairs: Uint8Array;
  readonly byFirst: (readonly Buffer[])[];
}

function prefixTable(prefixes: readonly Buffer[]): PrefixTable {
  const pairs = new Uint8Array(65536);
  const byFirst: Buffer[][] = Array.from({ length: 256 }, () => []);
  for (const p of prefixes) {
    pairs[(p[0] as number) * 256 + (p[1] as number)] = 1;
    byFirst[p[0] as number]?.push(p);
  }
  return { pairs, byFirst };
}
const TABLE = prefixTable(PREFIXES);
const UNSTAMPED_TABLE = prefixTable(UNSTAMPED);

const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const SPACE = 0x20;
const DOT = 0x2e;
const DASH = 0x2d;
const LF = 0x0a;
const CR = 0x0d;
const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/** Index just past the last printk timestamp ("[   12.345678] ", "[ T12]" after it) near the start, or -1. */
export function messageStart(buf: Buffer, start: number, end: number): number {
  const canonical = canonicalEnd(buf, start, end);
  return canonical === -1 ? scannedMessageStart(buf, start, end) : afterCanonical(buf, start, canonical, end);
}

/**
 * messageStart() after the kernel's own timestamp ended at `canonical`: there, unless another "[" in
 * the rest of the window starts a later timestamp. Looking for "[" reads the window's 9 bytes in one
 * loop; probing it for timestamp bytes first sent 4 boot lines in 10 to the scan (spaces, digits).
 */
function afterCanonical(buf: Buffer, start: number, canonical: number, end: number): number {
  const within = start + TIMESTAMP_WITHIN;
  const limit = end < within ? end : within;
  for (let i = canonical; i < limit; i += 1)
    if (buf[i] === LBRACKET) return lastTimestampEnd(buf, i, canonical, within, end);
  return canonical;
}

/** The end of the last timestamp starting in [from, within), or `found` when there is none. */
function lastTimestampEnd(buf: Buffer, from: number, found: number, within: number, end: number): number {
  let last = found;
  const limit = Math.min(end, within);
  for (let i = from; i < limit; i += 1) {
    if (buf[i] !== LBRACKET) continue;
    const after = timestampEnd(buf, i, end);
    if (after !== -1) {
      last = after;
      if (!mayHoldTimestamp(buf, after, within, end)) break;
      i = after - 1;
    }
  }
  return last;
}

/** messageStart() without its shortcut for the kernel's own timestamp: the reference it must agree with. */
export function scannedMessageStart(buf: Buffer, start: number, end: number): number {
  const within = start + TIMESTAMP_WITHIN;
  if (buf[start] !== LBRACKET && !mayHoldTimestamp(buf, start, within, end)) return -1;
  return lastTimestampEnd(buf, start, -1, within, end);
}

/** 1 for an ASCII digit. */
const DIGIT = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c += 1) DIGIT[c] = 1;
/** A canonical timestamp's integer field: 1 for a space (padding), 2 for a digit, 0 for anything else. */
const PADDED_DIGIT = new Uint8Array(256);
PADDED_DIGIT[SPACE] = 1;
for (let c = 0x30; c <= 0x39; c += 1) PADDED_DIGIT[c] = 2;

/**
 * The kernel's own "[%5lu.%06lu] " (every line of a console under 100000 s of uptime) at `start`: the
 * index past it, or -1 for anything else (timestampEnd decides those). Reads at fixed places, no loop:
 * timestampEnd's byte-by-byte walk was most of what the watcher cost a boot log.
 */
function canonicalEnd(buf: Buffer, start: number, end: number): number {
  if (
    end - start < 16 ||
    buf[start] !== LBRACKET ||
    buf[start + 13] !== RBRACKET ||
    buf[start + 14] !== SPACE ||
    buf[start + 6] !== DOT
  )
    return -1;
  const digits =
    (DIGIT[buf[start + 5] as number] as number) &
    (DIGIT[buf[start + 7] as number] as number) &
    (DIGIT[buf[start + 8] as number] as number) &
    (DIGIT[buf[start + 9] as number] as number) &
    (DIGIT[buf[start + 10] as number] as number) &
    (DIGIT[buf[start + 11] as number] as number) &
    (DIGIT[buf[start + 12] as number] as number);
  if (digits === 0) return -1;
  // Bytes 1 to 4: spaces, then digits (a class that never goes down, and never "other").
  const c1 = PADDED_DIGIT[buf[start + 1] as number] as number;
  const c2 = PADDED_DIGIT[buf[start + 2] as number] as number;
  const c3 = PADDED_DIGIT[buf[start + 3] as number] as number;
  const c4 = PADDED_DIGIT[buf[start + 4] as number] as number;
  if (c1 === 0 || c2 < c1 || c3 < c2 || c4 < c3) return -1;
  return start + 15;
}

/**
 * False when no timestamp can start in [from, within): one that did would cover one of the bytes
 * probed every SHORTEST_TIMESTAMP bytes, and every byte of it is IN_TIMESTAMP. A binary or userspace
 * line is ruled out in 5 reads instead of 24, the rest of the window after a timestamp in 2 instead of 9.
 */
function mayHoldTimestamp(buf: Buffer, from: number, within: number, end: number): boolean {
  const limit = Math.min(end, within + SHORTEST_TIMESTAMP - 1);
  for (let i = from + SHORTEST_TIMESTAMP - 1; i < limit; i += SHORTEST_TIMESTAMP)
    if (IN_TIMESTAMP[buf[i] as number] === 1) return true;
  // Too few bytes for a probe may still hold a timestamp's start: the scan decides.
  return from < within && limit - from < SHORTEST_TIMESTAMP;
}

/** `buf[i]` is "[": the index past "[ *d+.d+]" (+ "[ *[TC]d+]") and one space, or -1. */
function timestampEnd(buf: Buffer, i: number, end: number): number {
  let j = i + 1;
  while (j < end && buf[j] === SPACE) j += 1;
  const digits = j;
  while (j < end && isDigit(buf[j])) j += 1;
  if (j === digits || buf[j] !== DOT) return -1;
  j += 1;
  const fraction = j;
  while (j < end && isDigit(buf[j])) j += 1;
  if (j === fraction || buf[j] !== RBRACKET) return -1;
  j += 1;
  if (buf[j] === LBRACKET) {
    // The caller id: "[  T123]" or "[ C1]".
    let k = j + 1;
    while (k < end && buf[k] === SPACE) k += 1;
    if (buf[k] === 0x54 || buf[k] === 0x43) {
      k += 1;
      const ids = k;
      while (k < end && isDigit(buf[k])) k += 1;
      if (k > ids && buf[k] === RBRACKET) j = k + 1;
    }
  }
  if (buf[j] === SPACE) j += 1;
  return j;
}

function startsWithAny(buf: Buffer, at: number, end: number, table: PrefixTable): boolean {
  if (end - at < 2) return false; // every prefix is longer
  const first = buf[at] as number;
  if (table.pairs[first * 256 + (buf[at + 1] as number)] !== 1) return false;
  const candidates = table.byFirst[first] as readonly Buffer[];
  for (let c = 0; c < candidates.length; c += 1) {
    const prefix = candidates[c] as Buffer;
    if (end - at < prefix.length) continue;
    let k = 1;
    while (k < prefix.length && buf[at + k] === prefix[k]) k += 1;
    if (k === prefix.length) return true;
  }
  return false;
}

/**
 * True when the line [start, end) of `buf` may be something the classifier acts on. `stamped`: the
 * port has shown printk timestamps, so a line without one is userspace (firmware banners aside).
 */
export function mayMatter(buf: Buffer, start: number, end: number, stamped: boolean): boolean {
  const canonical = canonicalEnd(buf, start, end);
  const message =
    canonical === -1 ? scannedMessageStart(buf, start, end) : afterCanonical(buf, start, canonical, end);
  if (message === -1) {
    if (startsWithAny(buf, start, end, UNSTAMPED_TABLE)) return true;
    if (stamped) return false;
    // printk.time=0: the message is the line, maybe after a syslog level "<4>".
    const at = buf[start] === 0x3c && buf[start + 2] === 0x3e ? start + 3 : start;
    return startsWithAny(buf, at, end, TABLE) || hasOomKiller(buf, at, end);
  }
  return startsWithAny(buf, message, end, TABLE) || hasOomKiller(buf, message, end);
}

/** "NAME invoked oom-killer:" with NAME a task's comm (≤ 15 bytes, printed by mm/oom_kill.c). */
function hasOomKiller(buf: Buffer, at: number, end: number): boolean {
  if (at + OOM.length > end) return false;
  if (OOM_PROBES[(buf[at + 16] as number) * 256 + (buf[at + 19] as number)] !== 1) return false;
  const limit = Math.min(end - OOM.length, at + 16);
  const last = OOM.length - 1;
  // Horspool: most lines are ruled out after reading a byte or two, not 16.
  for (let i = at; i <= limit; i += OOM_SHIFT[buf[i + last] as number] as number) {
    let k = last;
    while (k >= 0 && buf[i + k] === OOM[k]) k -= 1;
    if (k < 0) return true;
  }
  return false;
}

/**
 * The line ends like `end trace 0123abcd ]---` (REPORT_END's unanchored form), CR and LF aside: a
 * report's end line the prefilter (which looks only at the message's start) would not pass.
 */
export function endsLikeTrace(buf: Buffer, start: number, end: number): boolean {
  let i = end - 1;
  while (i >= start && (buf[i] === LF || buf[i] === CR)) i -= 1;
  return (
    i - 3 >= start && buf[i] === DASH && buf[i - 1] === DASH && buf[i - 2] === DASH && buf[i - 3] === RBRACKET
  );
}
