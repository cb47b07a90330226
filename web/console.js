// @ts-check
/**
 * One port's live console: an xterm terminal on the console WebSocket.
 *
 *   daemon ──binary frame (raw bytes)──> Uint8Array ──> terminal.write   (xterm decodes UTF-8 across
 *   daemon <──binary frame (raw bytes)── TextEncoder <── terminal.onData  chunk boundaries itself)
 *   daemon <──text frame (JSON)──> auth, hello, lease take/release, break, errors
 *
 * Bytes are never decoded per chunk here: a character split across two frames would garble.
 */
import { parseJson, savedToken } from "./api.js";

const BACKLOG_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/**
 * @typedef {import("./api.js").Lease} Lease
 * @typedef {{ role: string | null, lease: Lease | null, yours: boolean, connected: boolean }} ConsoleState
 * @typedef {"info" | "success" | "warning" | "error" | "lease"} NoticeKind "lease": the warning that
 *   typing needs the lease, cleared once it is held
 * @typedef {{ type: "hello", port: string, name: string, role: string, lease: Lease | null, offset: number }
 *   | { type: "lease", lease: Lease | null, yours: boolean }
 *   | { type: "error", code: string, message: string }} ServerMessage
 */

export class ConsoleView {
  /**
   * @param {HTMLElement} container
   * @param {{ onState: (state: ConsoleState) => void, onNotice: (text: string, kind?: NoticeKind) => void }} events
   */
  constructor(container, events) {
    this.events = events;
    /** @type {ConsoleState} */
    this.state = { role: null, lease: null, yours: false, connected: false };
    /** @type {WebSocket | null} */
    this.socket = null;
    /** A BREAK went out from here: the next input is its SysRq key. */
    this.armed = false;
    this.terminal = new window.Terminal({
      convertEol: false,
      cursorBlink: true,
      fontSize: 14,
      scrollback: 10_000,
      screenReaderMode: false,
    });
    this.fit = new window.FitAddon.FitAddon();
    this.terminal.loadAddon(this.fit);
    this.terminal.open(container);
    /** When the user last pressed a key here: xterm also answers terminal queries through onData. */
    this.lastKeyAt = -Infinity;
    this.terminal.attachCustomKeyEventHandler((event) => {
      if (event.type === "keydown") this.lastKeyAt = performance.now();
      // Shift+Tab leaves the terminal (Tab itself belongs to the shell's completion).
      return !(event.key === "Tab" && event.shiftKey);
    });
    this.terminal.onData((data) => this.sendBytes(encoder.encode(data)));
    // Non-UTF-8 input (some mouse reports): one byte per char code.
    this.terminal.onBinary((data) => this.sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    new ResizeObserver(() => this.fit.fit()).observe(container);
  }

  /** @param {string} port */
  attach(port) {
    this.detach();
    this.terminal.reset();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ports/${encodeURIComponent(port)}/console?backlog=${BACKLOG_BYTES}`;
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.addEventListener("open", () => {
      const token = savedToken();
      if (token !== null) socket.send(JSON.stringify({ type: "auth", token }));
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      if (event.data instanceof ArrayBuffer) this.terminal.write(new Uint8Array(event.data));
      else this.control(/** @type {ServerMessage} */ (parseJson(String(event.data))));
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.update({ connected: false, yours: false });
      this.events.onNotice(
        `Console closed (${event.code}${event.reason ? `: ${event.reason}` : ""}).`,
        "warning",
      );
    });
  }

  detach() {
    const socket = this.socket;
    this.socket = null;
    this.armed = false;
    socket?.close(1000, "viewer left");
    this.update({ role: null, lease: null, yours: false, connected: false });
  }

  /** @param {boolean} takeover */
  takeLease(takeover = false) {
    this.sendControl({ type: "lease", action: "take", ...(takeover ? { takeover: true } : {}) });
  }

  releaseLease() {
    this.sendControl({ type: "lease", action: "release" });
  }

  /** A BREAK through this console: the next key typed here goes out as the SysRq key. */
  sendBreak() {
    this.sendControl({ type: "break" });
    this.armed = true;
    this.events.onNotice("BREAK sent: the next key you type is the SysRq key.", "success");
  }

  focus() {
    this.terminal.focus();
  }

  /** @param {ServerMessage} message */
  control(message) {
    switch (message.type) {
      case "hello":
        this.update({ connected: true, role: message.role, lease: message.lease, yours: false });
        this.events.onNotice(`Connected to ${message.port} as ${message.name} (${message.role}).`, "info");
        break;
      case "lease":
        this.update({ lease: message.lease, yours: message.yours });
        break;
      case "error":
        this.events.onNotice(`${message.code}: ${message.message}`, "error");
        break;
    }
  }

  /** @param {Partial<ConsoleState>} change */
  update(change) {
    this.state = { ...this.state, ...change };
    this.events.onState(this.state);
  }

  /**
   * Input goes out only while this console holds the lease, or as the key after its own BREAK. The
   * daemon enforces both anyway; holding back here also keeps xterm's automatic answers (to a cursor
   * position query replayed from the backlog, say) from being typed by a viewer.
   * @param {Uint8Array} bytes
   */
  sendBytes(bytes) {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    if (!this.state.yours && !this.armed) {
      if (performance.now() - this.lastKeyAt > 500) return; // an automatic answer, not typing
      this.events.onNotice(
        this.state.role === "read"
          ? "This token is read-only: it can watch the console but not type."
          : "Take the writer lease to type (or send a BREAK: the next key goes out as SysRq).",
        this.state.role === "read" ? "warning" : "lease",
      );
      return;
    }
    this.armed = false;
    this.socket.send(bytes);
  }

  /** @param {object} message */
  sendControl(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
