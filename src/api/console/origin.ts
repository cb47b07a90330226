/**
 * Which browser pages may open a console WebSocket. A page elsewhere must not type into a root
 * shell, and neither may a DNS-rebinding trick (evil.example resolving to 127.0.0.1 makes Origin and
 * Host agree): so an Origin must match the Host, and without tokens the Host must be a loopback name.
 */
import { isLoopbackHost } from "../../config/security.js";

function hostname(hostHeader: string): string {
  const host = hostHeader.startsWith("[")
    ? hostHeader.slice(1, hostHeader.indexOf("]"))
    : hostHeader.split(":")[0];
  return (host ?? "").toLowerCase();
}

/** A reason to refuse, or null. Clients without an Origin (the CLI, scripts) are not browsers. */
export function refuseOrigin(
  origin: string | undefined,
  host: string | undefined,
  authEnabled: boolean,
): string | null {
  if (host === undefined) return "no Host header";
  if (!authEnabled && !isLoopbackHost(hostname(host))) {
    return `Host ${host} is not a loopback name; without tokens the console is served to loopback only`;
  }
  if (origin === undefined) return null;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `Origin ${origin} is not a URL`;
  }
  return originHost.toLowerCase() === host.toLowerCase()
    ? null
    : `Origin ${origin} is not this daemon (${host})`;
}
