/** A known stream for capture checks: numbered 4 KiB records holding every byte value, 0xFF included. */
const RECORD = 4096;

export function streamPattern(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let offset = 0, n = 0; offset < bytes; offset += RECORD, n += 1) {
    const head = Buffer.from(`\n#${String(n).padStart(8, "0")}:`, "latin1");
    head.copy(out, offset);
    for (let i = offset + head.length; i < Math.min(bytes, offset + RECORD); i += 1) out[i] = i & 0xff;
  }
  return out;
}

/** The pattern as a standard telnet peer sends it: 0xFF doubled (IAC IAC). */
export function telnetEscaped(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = data.indexOf(0xff); i !== -1; i = data.indexOf(0xff, start)) {
    parts.push(data.subarray(start, i + 1), Buffer.from([0xff]));
    start = i + 1;
  }
  parts.push(data.subarray(start));
  return Buffer.concat(parts);
}
