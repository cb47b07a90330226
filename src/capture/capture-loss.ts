/**
 * The index records of the first batch written after a loss episode, cut to the bytes on disk: a line
 * record made when its LF arrived can begin in the lost span (the line began before the disk came
 * back). Such a record is cut to start at the resume point, keeping the lines whose LF it holds (the
 * first one headless); one wholly before it is dropped. BREAK and gap marks keep their offsets.
 * Runs once per episode, so it may parse JSON.
 */
export function recordsFrom(records: Buffer, start: number, chunks: readonly Buffer[]): Buffer {
  if (records.length === 0) return records;
  const bytes = Buffer.concat(chunks);
  const out: string[] = [];
  for (const line of records.toString("utf8").split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (typeof r["seq"] !== "number" || typeof r["off"] !== "number" || typeof r["len"] !== "number") {
      out.push(line);
      continue;
    }
    const end = r["off"] + r["len"];
    if (r["off"] >= start) out.push(line);
    else if (end > start) out.push(JSON.stringify(cut(r, r["seq"], start, end, bytes)));
  }
  return Buffer.from(out.map((line) => `${line}\n`).join(""));
}

/** The record `r` (lines seq.. ending at `end`) cut to start at `start`; `bytes` begin at `start`. */
function cut(r: Record<string, unknown>, seq: number, start: number, end: number, bytes: Buffer): object {
  const lines = typeof r["lines"] === "number" ? r["lines"] : 1;
  let kept = 0;
  for (let lf = bytes.indexOf(0x0a); lf !== -1 && lf < end - start; lf = bytes.indexOf(0x0a, lf + 1))
    kept += 1;
  // A partial record (no LF) keeps its one line.
  if (r["partial"] === true) kept = 1;
  const dropped = lines - kept;
  const cutRecord: Record<string, unknown> = {
    seq: seq + dropped,
    ts: r["ts"],
    off: start,
    len: end - start,
  };
  if (kept !== 1) cutRecord["lines"] = kept;
  if (r["partial"] === true) cutRecord["partial"] = true;
  const dt = r["dt"];
  if (typeof dt === "string" && typeof r["ts"] === "string") {
    // The first line kept gives the record its ts; the lines after it keep their dt.
    let units = 0;
    for (let i = 1; i <= dropped; i += 1) units += parseInt(dt[i] ?? "0", 36);
    cutRecord["ts"] = new Date(Date.parse(r["ts"]) + units * 10).toISOString();
    if (kept > 1) cutRecord["dt"] = `0${dt.slice(dropped + 1)}`;
  }
  return cutRecord;
}
