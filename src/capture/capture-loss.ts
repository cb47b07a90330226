/**
 * The index records of the first batch written after a loss episode, cut to the bytes on disk: a line
 * record made when its LF arrived can begin in the lost span (the line began before the disk came
 * back). Such a record is cut to start at the resume point, keeping the lines whose LF it holds (the
 * first one headless); one wholly before it is dropped. BREAK and gap marks keep their offsets.
 * Runs once per episode, so it may parse JSON.
 */
import { formatRecord, parseRecord, type LineRecord } from "./index-format.js";

export function recordsFrom(records: Buffer, start: number, chunks: readonly Buffer[]): Buffer {
  if (records.length === 0) return records;
  const bytes = Buffer.concat(chunks);
  const out: string[] = [];
  for (const line of records.toString("utf8").split("\n")) {
    if (line === "") continue;
    const r = parseRecord(line);
    if (r?.kind !== "line") {
      out.push(`${line}\n`);
      continue;
    }
    const end = r.off + r.len;
    if (r.off >= start) out.push(`${line}\n`);
    else if (end > start) out.push(formatRecord(cut(r, start, end, bytes)));
  }
  return Buffer.from(out.join(""));
}

/** The record `r` (lines r.seq.. ending at `end`) cut to start at `start`; `bytes` begin at `start`. */
function cut(r: LineRecord, start: number, end: number, bytes: Buffer): LineRecord {
  let kept = 0;
  for (let lf = bytes.indexOf(0x0a); lf !== -1 && lf < end - start; lf = bytes.indexOf(0x0a, lf + 1))
    kept += 1;
  // A partial record (no LF) keeps its one line.
  if (r.partial) kept = 1;
  const dropped = r.lines - kept;
  let ts = r.ts;
  let dt = "";
  if (r.dt !== "") {
    // The first line kept gives the record its ts; the lines after it keep their dt.
    let units = 0;
    for (let i = 1; i <= dropped; i += 1) units += parseInt(r.dt[i] ?? "0", 36);
    ts = new Date(Date.parse(r.ts) + units * 10).toISOString();
    if (kept > 1) dt = `0${r.dt.slice(dropped + 1)}`;
  }
  return {
    kind: "line",
    seq: r.seq + dropped,
    ts,
    off: start,
    len: end - start,
    lines: kept,
    partial: r.partial,
    dt,
  };
}
