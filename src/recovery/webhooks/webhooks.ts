/**
 * The daemon's webhooks: one queue (queue.ts) and one journal folder (journal.ts) per configured
 * URL, fed by every event the EventHub publishes that the webhook's `events` filter takes.
 *
 *   EventHub.onEvent ─> Webhooks ─filter─> WebhookQueue (per URL) ─> POST
 *
 * A reload keeps the queue of a URL still configured (new secret, filter and bounds apply to what
 * waits); a removed URL's queue stops and its files stay on disk until it is configured again.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AuditLog } from "../../audit/audit-log.js";
import type { WebhookConfig } from "../../config/types.js";
import type { BridgeEvent } from "../events.js";
import { Journal, journalDir } from "./journal.js";
import { MAX_BODY_BYTES, WebhookQueue, type WebhookObserver } from "./queue.js";

export type { WebhookObserver } from "./queue.js";

/** The audit's `token` of what the webhooks record. */
export const WEBHOOK_PRINCIPAL = "webhooks";

export interface WebhooksOptions {
  readonly captureDir: string;
  readonly log: Logger;
  readonly audit: Pick<AuditLog, "append">;
  readonly observer: WebhookObserver;
  /** Subscribes to every published event; returns the unsubscribe (EventHub.onEvent). */
  readonly subscribe: (listener: (event: BridgeEvent) => void) => () => void;
}

export class Webhooks {
  private readonly queues = new Map<string, WebhookQueue>();
  private unsubscribe: (() => void) | null = null;

  private constructor(private readonly o: WebhooksOptions) {}

  /** Opens each webhook's journal (its waiting deliveries queued first), then takes events. */
  static async start(configs: readonly WebhookConfig[], options: WebhooksOptions): Promise<Webhooks> {
    const hooks = new Webhooks(options);
    await hooks.configure(configs);
    hooks.unsubscribe = options.subscribe((event) => hooks.publish(event));
    return hooks;
  }

  /** Deliveries waiting per webhook name (the pending gauge). */
  pending(): Map<string, number> {
    return new Map([...this.queues.values()].map((queue) => [queue.name, queue.size]));
  }

  /** Applies a (re)loaded `webhooks` list; never throws (a journal that cannot open is logged). */
  async configure(configs: readonly WebhookConfig[]): Promise<void> {
    const wanted = new Map(configs.map((hook) => [hook.url, hook]));
    for (const [url, queue] of this.queues) {
      if (wanted.has(url)) continue;
      this.queues.delete(url);
      const left = queue.size;
      await queue.close();
      if (left > 0)
        this.o.log.warn(
          { webhook: queue.name, pending: left },
          "webhook removed: its waiting deliveries stay on disk and are sent if it is configured again",
        );
    }
    for (const hook of configs) {
      const queue = this.queues.get(hook.url);
      if (queue) queue.update(hook);
      else this.queues.set(hook.url, await this.open(hook));
    }
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }

  private publish(event: BridgeEvent): void {
    for (const queue of this.queues.values()) if (queue.accepts(event)) queue.enqueue(event);
  }

  private async open(hook: WebhookConfig): Promise<WebhookQueue> {
    const log = this.o.log;
    const hooks = {
      log,
      observer: this.o.observer,
      dropped: (webhook: string, detail: Record<string, unknown>) => this.audit(webhook, detail),
    };
    const dir = journalDir(this.o.captureDir, hook.url);
    try {
      const { journal, stored, damaged } = await Journal.open(dir, MAX_BODY_BYTES);
      for (const bad of damaged) {
        this.o.observer.result(hook.name, "dropped");
        log.error({ webhook: hook.name, ...bad }, "webhook: a stored delivery was unreadable and is dropped");
        this.audit(hook.name, { file: bad.file, reason: "unreadable" });
      }
      if (stored.length > 0)
        log.info({ webhook: hook.name, pending: stored.length }, "webhook: resuming stored deliveries");
      return new WebhookQueue(hook, journal, stored, hooks);
    } catch (err) {
      // Deliveries still go out; none survives a restart until the folder can be written.
      this.o.observer.journalError(hook.name);
      log.error(
        { err, webhook: hook.name, dir },
        "webhook: cannot open its journal folder; deliveries are kept in memory only",
      );
      return new WebhookQueue(hook, null, [], hooks);
    }
  }

  private audit(webhook: string, detail: Record<string, unknown>): void {
    this.o.audit
      .append({
        requestId: randomUUID(),
        token: WEBHOOK_PRINCIPAL,
        client: "daemon",
        action: "webhook-drop",
        status: 500,
        code: "WEBHOOK_DROPPED",
        webhook,
        ...detail,
      })
      .catch((err: unknown) =>
        this.o.log.error({ err, webhook }, "webhook: could not write the audit record"),
      );
  }
}
