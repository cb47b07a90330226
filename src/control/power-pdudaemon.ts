/**
 * Power through pdudaemon's HTTP listener (LAVA labs' PDU daemon), one outlet of a PDU it knows:
 *
 *   on / off        GET <url>/power/control/on|off?hostname=H&port=N
 *   cycle / reset   GET <url>/power/control/reboot?hostname=H&port=N&delay=D   (off, D s, on)
 *
 * 200 means pdudaemon took the job (0.0.8 answers once its driver has run, older ones before); it
 * cannot report the outlet's state, so the verdict comes from the console. It answers 500 "Invalid
 * request" for a PDU it does not know. The whole request has a deadline and its answer is read bounded.
 */
import http from "node:http";
import https from "node:https";
import type { PduDaemonPowerConfig } from "../config/types.js";
import {
  PowerChannelError,
  type PowerAction,
  type PowerChannel,
  type PowerOutcome,
} from "./power-channel.js";

/** pdudaemon answers a line ("OK - accepted request"); more than this is not pdudaemon. */
export const REPLY_LIMIT = 4096;

export function pduDaemonPowerChannel(config: PduDaemonPowerConfig): PowerChannel {
  return {
    kind: "pdudaemon",
    where: `pdudaemon at ${config.url}, PDU ${config.hostname} outlet ${config.outlet}`,
    actions: ["on", "off", "cycle", "reset"],
    run: (action, how) => runPduDaemon(config, action, how?.sending),
  };
}

/** The request for an action: `reboot` carries the delay, on / off none (pdudaemon warns on it). */
export function pduDaemonUrl(config: PduDaemonPowerConfig, action: PowerAction): URL {
  const request = action === "on" || action === "off" ? action : "reboot";
  const url = new URL(`power/control/${request}`, config.url.endsWith("/") ? config.url : `${config.url}/`);
  url.searchParams.set("hostname", config.hostname);
  url.searchParams.set("port", String(config.outlet));
  if (request === "reboot") url.searchParams.set("delay", String(config.delaySeconds));
  return url;
}

function runPduDaemon(
  config: PduDaemonPowerConfig,
  action: PowerAction,
  sending: (() => void) | undefined,
): Promise<PowerOutcome> {
  const url = pduDaemonUrl(config, action);
  const step = `GET ${url.pathname}${url.search}`;
  return new Promise((resolve, reject) => {
    let reply = "";
    let settled = false;
    const fail = (message: string, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new PowerChannelError(message, { steps: [step], ...(reply ? { reply } : {}) }, { cause }));
    };
    const get = url.protocol === "https:" ? https.get : http.get;
    sending?.();
    const req = get(url, { headers: { accept: "text/plain" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > REPLY_LIMIT) {
          fail(`${url.host} answered more than ${REPLY_LIMIT} bytes: not pdudaemon?`);
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        reply = Buffer.concat(chunks).toString("utf8").trim();
        const status = res.statusCode ?? 0;
        if (status === 200) {
          settled = true;
          clearTimeout(timer);
          resolve({ steps: [step], reply });
          return;
        }
        // 500 "Invalid request": an unknown PDU hostname, or a request it does not take.
        fail(`pdudaemon refused ${step}: HTTP ${status}${reply ? ` ${JSON.stringify(reply)}` : ""}`);
      });
      res.on("error", (err) => fail(`pdudaemon at ${url.host}: ${err.message}`, err));
    });
    const timer = setTimeout(() => {
      fail(`pdudaemon at ${url.host}: no answer within ${config.timeoutMs} ms`);
      req.destroy();
    }, config.timeoutMs);
    req.on("error", (err) => fail(`pdudaemon at ${url.host}: ${err.message}`, err));
  });
}
