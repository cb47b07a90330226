/**
 * One webhook's deliveries, in event order, one request at a time:
 *
 *   event ─> body ─> journal file (fsync) ─> POST ─2xx─> file removed
 *                                              └─else─> wait (backoff + jitter) ─> POST again, same id
 *
 * The head of the queue blocks the rest while it is retried, so a receiver sees events in order
 * (unless one is dropped: too old, or pushed out by maxPending). Every wait is a timer close() clears.
 */
import http from "node:http";
import https from "node:https";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { WebhookConfig } from "../../config/types.js";
import type { BridgeEvent } from "../events.js";
import type { Journal, StoredDelivery } from "./journal.js";
import { post, type AttemptResult } from "./send.js";

/** Bigger bodies are dropped, not sent (an event is ~1 KiB: the trigger line is cut at 512 chars). */
export const MAX_BODY_BYTES = 64 * 1024;

export type DeliveryResult = "delivered" | "retried" | "dropped";

/** What the metrics want to hear (api/metrics implements it). */
export interface WebhookObserver {
  result(webhook: string, result: DeliveryResult): void;
  /** Seconds from the event to its 2xx answer. */
  latency(webhook: string, seconds: number): void;
  journalError(webhook: string): void;
}

/** Why a delivery was given up: the audit's and the log's `reason`. */
export type DropReason = "expired" | "over-cap" | "too-large" | "unreadable";

export interface QueueHooks {
  readonly log: Logger;
  readonly observer: WebhookObserver;
  /** Records a dropped delivery in the audit (never rejects). */
  readonly dropped: (webhook: string, detail: Record<string, unknown>) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Delivery {
  readonly id: string;
  readonly type: string;
  readonly created: number;
  readonly body: Buffer;
  readonly file: string;
  /** Settles once the file is written, or its write failed (then the delivery lives in memory only). */
  readonly stored: Promise<boolean>;
  attempts: number;
  notBefore: number;
}

/** Delay before attempt `attempts + 1`: initialMs doubling up to maxMs, plus up to 25 % jitter. */
export function backoffMs(attempts: number, retry: WebhookConfig["retry"], random: number): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(base * (1 + 0.25 * random));
}

export class WebhookQueue {
  private readonly pending: Delivery[] = [];
  private inFlight: Delivery | null = null;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly stop = new AbortController();
  private readonly agent: http.Agent;
  /** Failures in a row: the first is a warning, the rest debug, and the recovery is said once. */
  private failing = 0;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private hook: WebhookConfig,
    private readonly journal: Journal | null,
    stored: readonly StoredDelivery[],
    private readonly o: QueueHooks,
  ) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    const options = { keepAlive: true, maxSockets: 1 };
    this.agent = hook.url.startsWith("https:") ? new https.Agent(options) : new http.Agent(options);
    for (const entry of stored) {
      const type = typeOf(entry.body);
      this.pending.push({ ...entry, type, stored: Promise.resolve(true), attempts: 0, notBefore: 0 });
    }
    this.trimToCap();
    this.kick();
  }

  get name(): string {
    return this.hook.name;
  }

  get size(): number {
    return this.pending.length;
  }

  /** A reload's new settings for the same URL (secret, filter, timeouts, bounds). */
  update(hook: WebhookConfig): void {
    this.hook = hook;
    this.trimToCap();
  }

  accepts(event: BridgeEvent): boolean {
    const events: readonly string[] | null = this.hook.events;
    return events === null || events.includes(event.name);
  }

  enqueue(event: BridgeEvent): void {
    const body = Buffer.from(
      JSON.stringify({ id: event.id, type: event.name, port: event.port, data: event.data }),
    );
    const id = randomUUID();
    if (body.length > MAX_BODY_BYTES) {
      this.drop({ id, type: event.name, created: this.now(), attempts: 0 }, "too-large", null);
      return;
    }
    const created = this.now();
    const file = this.journal?.fileFor(id, created) ?? "";
    const delivery: Delivery = {
      id,
      type: event.name,
      created,
      body,
      file,
      stored: this.store(file, body, id),
      attempts: 0,
      notBefore: 0,
    };
    this.pending.push(delivery);
    this.trimToCap();
    this.kick();
  }

  /** Stops at once: the request in flight is dropped, what waits stays on disk for the next start. */
  async close(): Promise<void> {
    this.stop.abort();
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
    this.agent.destroy();
  }

  /** Written now, fsync'd before the first attempt; false: in memory only (logged, counted). */
  private store(file: string, body: Buffer, id: string): Promise<boolean> {
    if (this.journal === null) return Promise.resolve(false);
    const failed = (err: unknown, what: string): boolean => {
      this.o.observer.journalError(this.hook.name);
      this.o.log.error({ err, webhook: this.hook.name, delivery: id }, what);
      return false;
    };
    try {
      this.journal.writeNow(file, body);
    } catch (err) {
      // Delivered all the same, from memory; only a stop before it succeeds would lose it.
      return Promise.resolve(
        failed(
          err,
          "webhook: could not persist a delivery; it is tried from memory and is lost if the daemon stops first",
        ),
      );
    }
    return this.journal.sync(file).then(
      () => true,
      (err: unknown) => {
        // The file is there (a crash keeps it); only a power loss could take it.
        failed(err, "webhook: could not fsync a delivery's file; a power loss may lose it");
        return true;
      },
    );
  }

  private trimToCap(): void {
    while (this.pending.length > this.hook.maxPending) {
      const oldest = this.pending[0] === this.inFlight ? 1 : 0;
      const [victim] = this.pending.splice(oldest, 1);
      if (victim) this.drop(victim, "over-cap", victim);
    }
  }

  private kick(): void {
    if (this.running !== null) {
      this.wake?.();
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
      // An event that came as the loop was returning.
      if (this.pending.length > 0 && !this.stop.signal.aborted) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (!this.stop.signal.aborted) {
      const head = this.pending[0];
      if (head === undefined) return;
      await head.stored;
      if (this.pending[0] !== head) continue; // dropped over the cap meanwhile
      const wait = head.notBefore - this.now();
      if (wait > 0) {
        await this.sleep(wait);
        continue; // the head may have changed (dropped over the cap) while waiting
      }
      this.inFlight = head;
      const result = await post({
        url: new URL(this.hook.url),
        body: head.body,
        delivery: head.id,
        type: head.type,
        secret: this.hook.secret.reveal(),
        timeoutMs: this.hook.timeoutMs,
        agent: this.agent,
        signal: this.stop.signal,
      });
      this.inFlight = null;
      if (this.stop.signal.aborted) return;
      this.settle(head, result);
    }
  }

  private settle(head: Delivery, result: AttemptResult): void {
    head.attempts += 1;
    if (result.ok) {
      this.remove(head);
      this.o.observer.result(this.hook.name, "delivered");
      this.o.observer.latency(this.hook.name, (this.now() - head.created) / 1000);
      if (this.failing > 0) {
        this.o.log.info({ webhook: this.hook.name, failures: this.failing }, "webhook: delivering again");
      }
      this.failing = 0;
      return;
    }
    this.failing += 1;
    const delay = backoffMs(head.attempts, this.hook.retry, this.random());
    const detail = { webhook: this.hook.name, delivery: head.id, attempts: head.attempts, why: result.why };
    if (this.now() + delay > head.created + this.hook.retry.forMs) {
      this.remove(head);
      this.drop(head, "expired", head, result.why);
      return;
    }
    head.notBefore = this.now() + delay;
    this.o.observer.result(this.hook.name, "retried");
    if (this.failing === 1)
      this.o.log.warn({ ...detail, retryInMs: delay }, "webhook: delivery failed; retrying");
    else this.o.log.debug({ ...detail, retryInMs: delay }, "webhook: delivery failed again");
  }

  private remove(delivery: Delivery): void {
    const at = this.pending.indexOf(delivery);
    if (at >= 0) this.pending.splice(at, 1);
    void this.unlink(delivery);
  }

  private async unlink(delivery: Pick<Delivery, "file" | "stored">): Promise<void> {
    if (this.journal === null || !(await delivery.stored)) return;
    await this.journal.remove(delivery.file).catch((err: unknown) => {
      this.o.observer.journalError(this.hook.name);
      this.o.log.error(
        { err, webhook: this.hook.name },
        "webhook: could not remove a finished delivery's file (it is sent again after a restart)",
      );
    });
  }

  private drop(
    delivery: Pick<Delivery, "id" | "type" | "created" | "attempts">,
    reason: DropReason,
    stored: Delivery | null,
    lastError?: string,
  ): void {
    if (stored) void this.unlink(stored);
    this.o.observer.result(this.hook.name, "dropped");
    const detail = {
      delivery: delivery.id,
      type: delivery.type,
      reason,
      attempts: delivery.attempts,
      ageMs: this.now() - delivery.created,
      ...(lastError === undefined ? {} : { lastError }),
    };
    this.o.log.error({ webhook: this.hook.name, ...detail }, "webhook: delivery dropped");
    this.o.dropped(this.hook.name, detail);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = () => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.wake = null;
        resolve();
      };
      this.timer = setTimeout(() => this.wake?.(), ms);
    });
  }
}

/** The event type a stored body names (journal.ts checked it is JSON). */
function typeOf(body: Buffer): string {
  const parsed = JSON.parse(body.toString("utf8")) as { type?: unknown };
  return typeof parsed.type === "string" ? parsed.type : "unknown";
}
