/** The webhooks' metrics: results by webhook, the pending gauge, the journal's failed writes, latency. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { DeliveryResult, WebhookObserver } from "../../recovery/webhooks/queue.js";

/** A healthy receiver answers in milliseconds; an outage stretches an event's delivery to hours. */
const DELIVERY_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 60, 300, 3600, 86400,
];

export class WebhookMetrics implements WebhookObserver {
  private readonly results: Counter<"webhook" | "result">;
  private readonly journalErrors: Counter<"webhook">;
  private readonly seconds: Histogram<"webhook">;
  /** Set once the webhooks start (daemon.ts); the gauge reads it on each scrape. */
  pendingSource: (() => ReadonlyMap<string, number>) | null = null;

  constructor(registry: Registry) {
    const registers = [registry];
    this.results = new Counter({
      name: "sysrq_bridge_webhook_deliveries_total",
      help: "webhook attempts by result: delivered (2xx), retried (failed, tried again later), dropped (given up)",
      labelNames: ["webhook", "result"],
      registers,
    });
    this.journalErrors = new Counter({
      name: "sysrq_bridge_webhook_journal_errors_total",
      help: "pending deliveries that could not be written to (or removed from) disk: a restart loses (or resends) them",
      labelNames: ["webhook"],
      registers,
    });
    this.seconds = new Histogram({
      name: "sysrq_bridge_webhook_delivery_seconds",
      help: "from the event to its receiver's 2xx answer",
      labelNames: ["webhook"],
      buckets: DELIVERY_BUCKETS_SECONDS,
      registers,
    });
    const source = () => this.pendingSource?.() ?? new Map<string, number>();
    new Gauge({
      name: "sysrq_bridge_webhook_pending",
      help: "deliveries waiting for each webhook's receiver",
      labelNames: ["webhook"],
      registers,
      collect() {
        this.reset();
        for (const [webhook, count] of source()) this.set({ webhook }, count);
      },
    });
  }

  result(webhook: string, result: DeliveryResult): void {
    this.results.inc({ webhook, result });
  }

  latency(webhook: string, seconds: number): void {
    this.seconds.observe({ webhook }, seconds);
  }

  journalError(webhook: string): void {
    this.journalErrors.inc({ webhook });
  }
}
