/**
 * The recovery commands: probe, power, recover, incidents, incident and quarantine clear. Like
 * commands.ts, each talks through ApiClient, prints through recovery-output.ts and returns its exit
 * status. `recover` and `incidents -f` follow GET /events (event-follow.ts, resumed with Last-Event-ID
 * after a drop) and read GET /incidents only for what an event names.
 */
import { CliError, type ApiClient, type Incident } from "./api-client.js";
import type { Command } from "./args.js";
import { followEvents, type SseEvent } from "./event-follow.js";
import { ExitCode } from "./exit-codes.js";
import { untilStopped } from "./stop-signal.js";
import {
  formatIncident,
  formatIncidentLine,
  formatPower,
  formatProbe,
  formatStep,
} from "./recovery-output.js";

type RecoveryCommand = Extract<
  Command,
  { kind: "probe" | "power" | "recover" | "incidents" | "incident" | "quarantine" }
>;

/** Open incidents `incidents -f` keeps asking after; older ones are left to a later listing. */
const MAX_WATCHED = 100;

export async function runRecoveryCommand(
  command: RecoveryCommand,
  client: ApiClient,
  json: boolean,
  print: (text: string) => void,
): Promise<ExitCode> {
  switch (command.kind) {
    case "probe": {
      const probe = await client.probe(command.port, command.probeMs);
      print(json ? JSON.stringify({ port: command.port, ...probe }) : formatProbe(command.port, probe));
      const alive = probe.kernel === "alive" && probe.userspace !== "unresponsive";
      return alive ? ExitCode.OK : ExitCode.NO_RESPONSE;
    }
    case "power": {
      const result = await client.power(command.port, command.action, command.timeoutMs);
      print(json ? JSON.stringify({ port: command.port, ...result }) : formatPower(command.port, result));
      return result.verdict === "done" ? ExitCode.OK : ExitCode.NO_RESPONSE;
    }
    case "recover":
      return recover(command.port, command.detach, client, json, print);
    case "incidents":
      return incidents(command, client, json, print);
    case "incident": {
      const incident = await client.incident(command.id);
      print(json ? JSON.stringify(incident) : formatIncident(incident));
      return ExitCode.OK;
    }
    case "quarantine": {
      const { lifted, health } = await client.liftQuarantine(command.port);
      const said = lifted ? "quarantine lifted" : "was not quarantined";
      print(
        json
          ? JSON.stringify({ port: command.port, lifted, health })
          : `${command.port}: ${said}; health ${health}`,
      );
      return ExitCode.OK;
    }
  }
}

export function exitForOutcome(outcome: Incident["outcome"]): ExitCode {
  switch (outcome) {
    case "recovered":
    case "observed":
      return ExitCode.OK;
    case "quarantined":
      return ExitCode.REFUSED;
    case "failed":
    case undefined:
      return ExitCode.NO_RESPONSE;
  }
}

/** Starts the ladder, then prints each step as the incident gains it, until the outcome. */
async function recover(
  port: string,
  detach: boolean,
  client: ApiClient,
  json: boolean,
  print: (text: string) => void,
): Promise<ExitCode> {
  const { incident: started } = await client.recover(port);
  if (detach) {
    print(
      json
        ? JSON.stringify({ port, incident: started })
        : `${port}: recovery started, incident ${started.id}`,
    );
    return ExitCode.OK;
  }
  if (!json) print(`${port}: recovery started, incident ${started.id}`);
  let incident = started;
  let shown = 0;
  const read = async (signal: AbortSignal): Promise<boolean> => {
    incident = await client.incident(started.id, signal);
    if (!json) for (const step of incident.steps.slice(shown)) print(formatStep(step));
    shown = incident.steps.length;
    return incident.outcome !== undefined;
  };
  await untilStopped((signal) =>
    followEvents(client, signal, {
      // Once open (and after a drop): what the ladder recorded before the stream saw it.
      synced: (_fresh, s) => read(s),
      event: (event, s) => (isIncidentEvent(event) && event.data["id"] === started.id ? read(s) : no()),
    }),
  );
  if (json) print(JSON.stringify(incident));
  else
    print(
      `${port}: ${incident.outcome ?? "still running (interrupted)"}; sysrq-bridge incident ${incident.id}`,
    );
  return exitForOutcome(incident.outcome);
}

async function incidents(
  command: Extract<Command, { kind: "incidents" }>,
  client: ApiClient,
  json: boolean,
  print: (text: string) => void,
): Promise<ExitCode> {
  const { port, state, limit } = command;
  const show = (incident: Incident): void =>
    print(json ? JSON.stringify(incident) : formatIncidentLine(incident));
  let page = await client.incidents({ port, since: command.since, state, limit });
  page.incidents.forEach(show);
  if (!command.follow) {
    if (!json) process.stderr.write(`next: --since ${page.next}\n`);
    return ExitCode.OK;
  }
  // Open ones are shown again when they close, with their outcome.
  const open = new Set(page.incidents.filter((i) => i.state === "open").map((i) => i.id));
  const read = async (signal: AbortSignal): Promise<boolean> => {
    for (const id of [...open]) {
      const now = await client.incident(id, signal).catch((err: unknown) => {
        if (err instanceof CliError && err.code === "INCIDENT_NOT_FOUND") return null; // rotated away
        throw err;
      });
      if (now === null || now.state === "closed") open.delete(id);
      if (now?.state === "closed") show(now);
    }
    page = await client.incidents({ port, since: page.next, state }, signal);
    for (const incident of page.incidents) {
      show(incident);
      if (incident.state === "open" && open.size < MAX_WATCHED) open.add(incident.id);
    }
    return false;
  };
  await untilStopped((signal) =>
    followEvents(client, signal, {
      synced: (_fresh, s) => read(s),
      // Only an opening or a closing changes what this prints; an update does not.
      event: (event, s) =>
        (event.event === "incident.opened" || event.event === "incident.closed") &&
        (port === undefined || event.data["port"] === port)
          ? read(s)
          : no(),
    }),
  );
  return ExitCode.OK;
}

function isIncidentEvent(event: SseEvent): boolean {
  return event.event.startsWith("incident.");
}

const no = (): Promise<boolean> => Promise.resolve(false);
