/**
 * A token limited to some ports sees only those ports' series in /metrics, as in GET /ports: the
 * exposition text is filtered by each sample's `port` label. Series without one (process, HTTP
 * requests by route template) are about the daemon, not a port, and stay.
 */
const PORT_LABEL = /[{,]port="((?:[^"\\]|\\.)*)"/;

export function onlyPorts(exposition: string, mayUse: (portId: string) => boolean): string {
  return exposition
    .split("\n")
    .filter((line) => {
      if (line.startsWith("#")) return true;
      const port = PORT_LABEL.exec(line)?.[1];
      return port === undefined || mayUse(port);
    })
    .join("\n");
}
