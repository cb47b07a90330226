/**
 * A small QMP (QEMU Machine Protocol) client: newline-delimited JSON over a unix or TCP socket.
 *
 *   connect ─> {"QMP": greeting} ─> qmp_capabilities ─> {"return": {}} ─> commands ...
 *
 * Replies are matched to commands by `id`; asynchronous events ({"event": ...}) may arrive between
 * a command and its reply and go to the `onEvent` listeners. The connection is opened on first use
 * and again after it drops; while anyone listens for events it is kept open (reopened every
 * RETRY_MS). Every command has a deadline.
 */
import net from "node:net";

export type QmpEndpoint = { readonly path: string } | { readonly host: string; readonly port: number };

/** How soon a listened-to connection that dropped or was refused is tried again. */
const RETRY_MS = 1000;

/** One asynchronous QMP event; `at` is QEMU's own timestamp (ISO), so QEMU's order is kept. */
export interface QmpEvent {
  readonly event: string;
  readonly at: string;
  readonly data?: unknown;
}

export class QmpError extends Error {
  constructor(
    message: string,
    readonly qmpClass?: string,
  ) {
    super(message);
    this.name = "QmpError";
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

type QmpMessage = {
  QMP?: unknown;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
  id?: number;
};

export class QmpClient {
  private socket: net.Socket | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = "";
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private retry: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly endpoint: QmpEndpoint,
    private readonly timeoutMs = 3000,
  ) {}

  describe(): string {
    return "path" in this.endpoint ? this.endpoint.path : `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** Runs one command and resolves with its `return` value. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    await this.connect();
    return this.send(command, args);
  }

  /** Calls `listener` with every QMP event; while any listens, the connection is kept open. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    this.keepOpen();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.retry) clearTimeout(this.retry);
      if (this.listeners.size === 0) this.retry = null;
    };
  }

  private keepOpen(): void {
    if (this.closed || this.listeners.size === 0 || this.retry !== null) return;
    this.connect().catch(() => this.retryLater());
  }

  private retryLater(): void {
    if (this.closed || this.listeners.size === 0 || this.retry !== null) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.keepOpen();
    }, RETRY_MS);
    this.retry.unref();
  }

  private connect(): Promise<void> {
    this.ready ??= this.open().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  private async open(): Promise<void> {
    const socket =
      "path" in this.endpoint ? net.connect({ path: this.endpoint.path }) : net.connect(this.endpoint);
    socket.setEncoding("utf8");
    const greeting = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QmpError(`no QMP greeting from ${this.describe()}`)),
        this.timeoutMs,
      );
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new QmpError(`cannot connect to QMP at ${this.describe()}: ${err.message}`));
      });
      const onData = (chunk: string): void => {
        this.buffer += chunk;
        if (!this.buffer.includes("\n")) return;
        socket.off("data", onData);
        clearTimeout(timer);
        const first = this.buffer.slice(0, this.buffer.indexOf("\n"));
        this.buffer = this.buffer.slice(this.buffer.indexOf("\n") + 1);
        const message = JSON.parse(first) as QmpMessage;
        if (message.QMP === undefined) reject(new QmpError(`${this.describe()} is not a QMP socket`));
        else resolve();
      };
      socket.on("data", onData);
    });
    await greeting;
    this.socket = socket;
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.dropped());
    await this.send("qmp_capabilities");
  }

  private send(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new QmpError(`QMP at ${this.describe()} is not connected`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError(`QMP ${command} got no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl !== -1; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let message: QmpMessage;
      try {
        message = JSON.parse(line) as QmpMessage;
      } catch {
        continue;
      }
      if (message.event !== undefined) {
        this.emit(message);
        continue;
      }
      if (message.id === undefined) continue;
      const waiter = this.pending.get(message.id);
      if (!waiter) continue;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new QmpError(message.error.desc, message.error.class));
      else waiter.resolve(message.return);
    }
  }

  private emit(message: QmpMessage): void {
    const ts = message.timestamp;
    const ms = ts ? ts.seconds * 1000 + Math.floor(ts.microseconds / 1000) : Date.now();
    const event: QmpEvent = {
      event: String(message.event),
      at: new Date(ms).toISOString(),
      ...(message.data === undefined ? {} : { data: message.data }),
    };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the next listener and the next message still come.
      }
    }
  }

  private dropped(): void {
    this.socket = null;
    this.ready = null;
    this.buffer = "";
    for (const waiter of this.pending.values())
      waiter.reject(new QmpError(`QMP connection to ${this.describe()} closed`));
    this.pending.clear();
    this.retryLater();
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.socket?.destroy();
  }
}

/** The /dev/pts path QEMU gave a `-chardev pty` (query-chardev: filename "pty:/dev/pts/N"). */
export async function ptyOfChardev(qmp: QmpClient, chardev: string): Promise<string> {
  const devices = (await qmp.execute("query-chardev")) as { label: string; filename: string }[];
  const device = devices.find((d) => d.label === chardev);
  if (!device) throw new QmpError(`QEMU has no chardev "${chardev}"`);
  if (!device.filename.startsWith("pty:"))
    throw new QmpError(`chardev "${chardev}" is not a pty (${device.filename})`);
  return device.filename.slice("pty:".length);
}

/** A real UART break in the guest, whatever the chardev backend: QMP chardev-send-break. */
export async function qmpBreak(qmp: QmpClient, chardev: string): Promise<void> {
  await qmp.execute("chardev-send-break", { id: chardev });
}
