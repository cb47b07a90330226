/** A console WebSocket client for tests: collects output bytes and control messages. */
import WebSocket from "ws";

export interface ConsoleClient {
  readonly socket: WebSocket;
  readonly output: () => Buffer;
  readonly messages: Record<string, unknown>[];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Waits for a control message of this type (and matching `where`). */
  next(
    type: string,
    where?: (m: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  control(message: object): void;
  input(bytes: string | Buffer): void;
}

export function openConsole(url: string, headers: Record<string, string> = {}): ConsoleClient {
  const socket = new WebSocket(url, { headers });
  const chunks: Buffer[] = [];
  const messages: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  socket.on("message", (data, isBinary) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    if (isBinary) chunks.push(bytes);
    else messages.push(JSON.parse(bytes.toString("utf8")) as Record<string, unknown>);
    wake();
  });
  socket.on("error", () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      wake();
    }),
  );
  const waitFor = (check: () => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what}; messages: ${JSON.stringify(messages)}`));
      }, timeoutMs);
      waiters.add(waiter);
      waiter();
    });
  const client: ConsoleClient = {
    socket,
    output: () => Buffer.concat(chunks),
    messages,
    closed,
    async next(type, where = () => true, timeoutMs = 5000) {
      let found: Record<string, unknown> | undefined;
      await waitFor(
        () => (found = messages.find((m) => m["type"] === type && where(m))) !== undefined,
        timeoutMs,
        `a ${type} message`,
      );
      messages.splice(messages.indexOf(found as Record<string, unknown>), 1);
      return found as Record<string, unknown>;
    },
    waitForOutput: (text, timeoutMs = 5000) =>
      waitFor(() => client.output().includes(text), timeoutMs, `output ${JSON.stringify(text)}`),
    control: (message) => socket.send(JSON.stringify(message)),
    input: (bytes) => socket.send(typeof bytes === "string" ? Buffer.from(bytes) : bytes, { binary: true }),
  };
  return client;
}
