/**
 * A webhook's pending deliveries on disk, one file per delivery under
 * `<captureDir>/webhooks/<sha256(url), 16 hex>/`, so they outlive a restart or a SIGKILL:
 *
 *   <created ms, 15 digits>-<seq, 6 digits>-<delivery uuid>.json   the exact body bytes
 *
 * Written synchronously as the event is published, so once anyone can see the event (GET /incidents
 * answers after it) the file is in the page cache and a SIGKILL cannot lose it; then fsync'd (file and
 * folder) before the first attempt, against a power loss (a file torn by one is dropped at start,
 * logged). Removed once delivered or dropped. Names sort in creation order: the order after a restart.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { mkdir, open, readFile, readdir, unlink } from "node:fs/promises";
import path from "node:path";

const FILE = /^(\d{15})-\d{6}-([0-9a-f-]{36})\.json$/;

export interface StoredDelivery {
  readonly id: string;
  readonly created: number;
  readonly body: Buffer;
  readonly file: string;
}

/** What open() found that could not be kept: unreadable, oversized or not JSON. */
export interface JournalDamage {
  readonly file: string;
  readonly why: string;
}

export function journalDir(captureDir: string, url: string): string {
  return path.join(captureDir, "webhooks", createHash("sha256").update(url).digest("hex").slice(0, 16));
}

export class Journal {
  private seq = 0;

  private constructor(readonly dir: string) {}

  /** The folder (made if missing) and the deliveries it holds, oldest first. */
  static async open(
    dir: string,
    maxBodyBytes: number,
  ): Promise<{ journal: Journal; stored: StoredDelivery[]; damaged: JournalDamage[] }> {
    await mkdir(dir, { recursive: true });
    const stored: StoredDelivery[] = [];
    const damaged: JournalDamage[] = [];
    for (const name of (await readdir(dir)).sort()) {
      const file = path.join(dir, name);
      const match = FILE.exec(name);
      if (!match) continue;
      try {
        const body = await readFile(file);
        if (body.length > maxBodyBytes) throw new Error(`larger than ${maxBodyBytes} bytes`);
        JSON.parse(body.toString("utf8"));
        stored.push({ id: match[2]!, created: Number(match[1]), body, file });
      } catch (err) {
        damaged.push({ file: name, why: (err as Error).message });
        await unlink(file).catch(() => undefined);
      }
    }
    return { journal: new Journal(dir), stored, damaged };
  }

  /** Where a new delivery's file goes (its name fixes its place in the order). */
  fileFor(id: string, created: number): string {
    this.seq = (this.seq + 1) % 1_000_000;
    const name = `${String(created).padStart(15, "0")}-${String(this.seq).padStart(6, "0")}-${id}.json`;
    return path.join(this.dir, name);
  }

  /** The file, written now (page cache: safe from a SIGKILL once this returns); throws when the disk refuses. */
  writeNow(file: string, body: Buffer): void {
    const fd = openSync(file, "wx", 0o600);
    try {
      let offset = 0;
      while (offset < body.length) offset += writeSync(fd, body, offset);
    } catch (err) {
      // A torn file would only be dropped as unreadable at the next start.
      rmSync(file, { force: true });
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  /** The file and its folder entry on disk (power loss); rejects when the disk refuses. */
  async sync(file: string): Promise<void> {
    for (const target of [file, this.dir]) {
      const handle = await open(target, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /** A delivered or dropped delivery's file; a failure only means a duplicate after a restart. */
  async remove(file: string): Promise<void> {
    await unlink(file);
  }
}
