/**
 * The append-only audit file: one JSON line per action (who, from where, on which port, what, and
 * the outcome), written before the response leaves. Lines are numbered (`seq`, continuing across
 * restarts) so a reader can page with `since`.
 *
 * fsync policy: every record is written to the file (the kernel's page cache) before the response is
 * sent, so a daemon crash loses nothing; `fsync: interval` (default) flushes to disk once a second,
 * so a power loss can lose the last second; `fsync: always` flushes before every response.
 *
 * Records are appended with a synchronous write: a few hundred bytes into the page cache take
 * microseconds, while an async write costs a thread-pool round trip on every response (on a busy
 * 2-core box, a context switch or two: most of what the daemon added to a SysRq answer). Records of
 * one event-loop turn share that write (see append).
 *
 * Fail-closed: an action the daemon cannot audit is not sent. `unavailable()` says why the file cannot
 * take a record now: a write or fdatasync failed (kept until a probe record is written again: on the
 * next action attempt, or every second), the filesystem has no free block, or it refuses writes.
 */
import { accessSync, constants, createReadStream, statfsSync, writeSync } from "node:fs";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import type { AuditConfig } from "../config/types.js";

export interface AuditInput {
  readonly requestId: string;
  /** The token's name, "anonymous" when auth is off; never the secret. */
  readonly token: string;
  readonly client: string;
  readonly action: string;
  readonly port?: string;
  readonly status: number;
  readonly code?: string;
  readonly [detail: string]: unknown;
}

export type AuditRecord = AuditInput & { readonly seq: number; readonly ts: string };

export interface AuditQuery {
  readonly since: number;
  readonly limit: number;
  readonly port?: string;
  /** Only these ports' records (a token limited to some ports); null for all. */
  readonly ports: ReadonlySet<string> | null;
}

const SYNC_INTERVAL_MS = 1000;
const TAIL_BYTES = 64 * 1024;
/** Less free space than this on the audit file's filesystem: the next record might not fit. */
const MIN_FREE_BYTES = 4096;
/** While a write has failed, a probe record is tried this often (and on each action attempt). */
const PROBE_INTERVAL_MS = 1000;

/** What the console doors and the action routes ask before they send anything. */
export interface AuditHealth {
  /** Null when a record can be written now; else why not (the 503 AUDIT_UNAVAILABLE message). */
  unavailable(): string | null;
}

interface WriteFailure {
  readonly reason: string;
  readonly since: string;
}

export class AuditLog implements AuditHealth {
  private failure: WriteFailure | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private writing: Promise<unknown> = Promise.resolve();
  /** Records of this turn, waiting for their shared write. */
  private pending: string[] = [];
  private turn: Promise<void> | null = null;
  private dirty = false;
  /** fsync "interval": armed by the first record since the last sync, so an idle daemon has no timer. */
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    private readonly config: AuditConfig,
    private nextSeq: number,
    private needsNewline: boolean,
    private readonly log: Logger,
  ) {}

  static async open(config: AuditConfig, log: Logger): Promise<AuditLog> {
    // 0700 like the capture directory it defaults to: both hold what only tokens may read.
    await mkdir(path.dirname(config.file), { recursive: true, mode: 0o700 });
    const handle = await open(config.file, "a+", 0o600);
    const { lastSeq, endsWithNewline } = await readTail(handle);
    const audit = new AuditLog(
      handle,
      config,
      lastSeq + 1,
      !endsWithNewline,
      log.child({ component: "audit" }),
    );
    // The check every action makes, once now: its first run loads what the first request would wait for.
    audit.unavailable();
    return audit;
  }

  get file(): string {
    return this.config.file;
  }

  /**
   * Resolves once the record is in the file (and on disk, with fsync: always). Records appended
   * during one turn of the event loop share one write (and one fdatasync), made just after the turn's
   * I/O callbacks (setImmediate): when 256 ports answer at once, that is one write instead of 256.
   */
  append(input: AuditInput): Promise<AuditRecord> {
    const record: AuditRecord = { seq: this.nextSeq++, ts: new Date().toISOString(), ...input };
    this.pending.push(JSON.stringify(record));
    this.turn ??= this.writeAfterThisTurn();
    const written = this.turn.then(() => record);
    this.writing = written.catch(() => undefined);
    return written;
  }

  private async writeAfterThisTurn(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.turn = null;
    const lines = this.pending;
    this.pending = [];
    if (lines.length === 0) return;
    if (this.failure) throw new Error(this.failure.reason);
    this.writeLines(lines);
    if (this.config.fsync === "always") {
      try {
        await this.handle.datasync();
      } catch (err) {
        this.failed(err);
        throw err;
      }
    } else this.markDirty();
  }

  /** Written but not yet synced: synced within SYNC_INTERVAL_MS (fsync "interval"), or at close. */
  private markDirty(): void {
    this.dirty = true;
    if (this.syncTimer !== null || this.closed || this.config.fsync !== "interval") return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      void this.syncIfDirty();
    }, SYNC_INTERVAL_MS).unref();
  }

  /** Writes whole lines or marks the log failed (a torn tail is ended by the next write's newline). */
  private writeLines(lines: readonly string[]): void {
    const text = Buffer.from(`${this.needsNewline ? "\n" : ""}${lines.join("\n")}\n`);
    let written = 0;
    try {
      // A short write (the disk filled mid-record) is continued; the next call reports the error.
      while (written < text.length) written += writeSync(this.handle.fd, text, written);
      this.needsNewline = false;
    } catch (err) {
      if (written > 0) this.needsNewline = true;
      this.failed(err);
      throw err;
    }
  }

  private failed(err: unknown): void {
    if (this.failure) return;
    const reason = `the audit file ${this.config.file} cannot be written: ${(err as Error).message}`;
    this.failure = { reason, since: new Date().toISOString() };
    this.log.error({ err }, "audit write failed: actions and console input are refused until it recovers");
    this.probeTimer ??= setInterval(() => this.probe(), PROBE_INTERVAL_MS).unref();
  }

  /**
   * Null when a record can be written now, else why not. After a failed write it first tries to
   * write an `audit-resumed` record (which says since when records were lost).
   */
  unavailable(): string | null {
    if (this.failure) this.probe();
    if (this.failure) return this.failure.reason;
    try {
      accessSync(this.config.file, constants.W_OK); // a read-only remount, an immutable file
      const fs = statfsSync(path.dirname(this.config.file));
      const free = fs.bavail * fs.bsize;
      if (free < MIN_FREE_BYTES) {
        return `the audit file ${this.config.file} cannot be written: its filesystem has ${free} bytes free`;
      }
    } catch (err) {
      return `the audit file ${this.config.file} cannot be written: ${(err as Error).message}`;
    }
    return null;
  }

  /** Tries the resumption record, only between turns (so records stay in seq order). */
  private probe(): void {
    const failure = this.failure;
    if (!failure || this.turn !== null || this.pending.length > 0) return;
    const record: AuditRecord = {
      seq: this.nextSeq,
      ts: new Date().toISOString(),
      requestId: "audit",
      token: "daemon",
      client: "daemon",
      action: "audit-resumed",
      status: 200,
      unavailableSince: failure.since,
      reason: failure.reason,
    };
    this.failure = null;
    try {
      this.writeLines([JSON.stringify(record)]);
    } catch {
      this.failure = failure; // still failing: writeLines kept the first reason
      return;
    }
    this.nextSeq += 1;
    this.markDirty();
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.log.warn({ since: failure.since }, "audit writable again");
  }

  async query(query: AuditQuery): Promise<{ records: AuditRecord[]; next: number }> {
    await this.writing;
    const records: AuditRecord[] = [];
    let next = query.since;
    const lines = createInterface({ input: createReadStream(this.config.file), crlfDelay: Infinity });
    for await (const line of lines) {
      const record = parseRecord(line);
      if (record === null || record.seq < query.since) continue;
      next = record.seq + 1;
      if (query.port !== undefined && record.port !== query.port) continue;
      if (query.ports !== null && (record.port === undefined || !query.ports.has(record.port))) continue;
      records.push(record);
      if (records.length >= query.limit) break;
    }
    lines.close();
    return { records, next };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    await this.writing;
    await this.syncIfDirty();
    await this.handle.close();
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      await this.handle.datasync();
    } catch (err) {
      this.failed(err); // what the page cache held may be lost: refuse until a probe succeeds
    }
  }
}

function parseRecord(line: string): AuditRecord | null {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === "object" && value !== null && typeof (value as AuditRecord).seq === "number"
      ? (value as AuditRecord)
      : null;
  } catch {
    return null; // a line torn by a crash mid-write
  }
}

async function readTail(handle: FileHandle): Promise<{ lastSeq: number; endsWithNewline: boolean }> {
  const { size } = await handle.stat();
  if (size === 0) return { lastSeq: 0, endsWithNewline: true };
  const length = Math.min(size, TAIL_BYTES);
  const buffer = Buffer.alloc(length);
  await handle.read(buffer, 0, length, size - length);
  const text = buffer.toString("utf8");
  const lastSeq = text
    .split("\n")
    .map(parseRecord)
    .reduce((max, record) => (record !== null && record.seq > max ? record.seq : max), 0);
  return { lastSeq, endsWithNewline: text.endsWith("\n") };
}
