/**
 * A webhook's pending deliveries on disk, one file per delivery under
 * `<captureDir>/webhooks/<sha256(url), 16 hex>/`, so they outlive a restart or a SIGKILL:
 *
 *   <created ms, 15 digits>-<seq, 6 digits>-<delivery uuid>.json   the exact body bytes
 *
 * Written (temp file, fsync, rename, fsync of the folder) before the first attempt, removed once
 * delivered or dropped. Names sort in creation order, which is delivery order after a restart.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, unlink } from "node:fs/promises";
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
      if (name.startsWith(".tmp-")) {
        // A write the last run did not finish: its delivery was never attempted either.
        await unlink(file).catch(() => undefined);
        continue;
      }
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

  /** Durable once this resolves: file and folder entry fsync'd. Rejects when the disk refuses. */
  async write(file: string, body: Buffer): Promise<void> {
    const temp = path.join(this.dir, `.tmp-${path.basename(file)}`);
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    const folder = await open(this.dir, "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  /** A delivered or dropped delivery's file; a failure only means a duplicate after a restart. */
  async remove(file: string): Promise<void> {
    await unlink(file);
  }
}
