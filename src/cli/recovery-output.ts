/**
 * What the recovery commands print (probe, power, recover, incidents): short human lines; --json
 * prints the API bodies as they are. Pure functions from API bodies to text.
 */
import type { Incident, PowerResult, ProbeResult } from "./api-client.js";
import { visible } from "./output.js";

export function formatProbe(port: string, probe: ProbeResult): string {
  const lines = [
    `${port}: kernel ${probe.kernel}, userspace ${probe.userspace}${probe.vm === undefined ? "" : `, vm ${probe.vm}`}`,
  ];
  const { kernel, userspace, vm } = probe.evidence;
  lines.push(`   kernel: ${kernel.line ?? kernel.reason ?? kernel.verdict}`);
  const said = userspace.prompt ?? userspace.reason;
  if (said !== undefined) lines.push(`   userspace: ${said}`);
  const status = vm?.status ?? vm?.reason;
  if (status !== undefined) lines.push(`   vm: ${status}`);
  return lines.join("\n");
}

export function formatPower(port: string, result: PowerResult): string {
  const { evidence } = result;
  const head = `${port}: power ${result.action} ${result.verdict} via ${evidence.channel} (${Math.round(result.ms)} ms)`;
  if (evidence.banner !== null) return `${head}\n   ${evidence.banner}`;
  return evidence.reason === undefined ? head : `${head}\n   ${evidence.reason}`;
}

/** One line: `12  vm0  panic  closed recovered  <opened>  <trigger line>`. */
export function formatIncidentLine(incident: Incident): string {
  const state = incident.outcome === undefined ? incident.state : `${incident.state} ${incident.outcome}`;
  const trigger = visible(incident.trigger.line);
  return [incident.id, incident.port, incident.kinds.join(","), state, incident.opened, trigger]
    .join("  ")
    .trimEnd();
}

export function formatStep(step: Incident["steps"][number]): string {
  const said = step.output.at(-1);
  return `   ${step.step}  ${step.verdict} (${Math.round(step.ms)} ms)${said === undefined ? "" : `  ${visible(said)}`}`;
}

/** The whole incident: its header line, the ladder's steps, the lines before it and the report. */
export function formatIncident(incident: Incident): string {
  const parts = [formatIncidentLine(incident)];
  if (incident.steps.length > 0) parts.push("steps:", ...incident.steps.map(formatStep));
  // The target's lines: its escape sequences would act on the terminal, so they are shown, not sent.
  if (incident.context.length > 0) parts.push("before:", ...incident.context.map((l) => `   ${visible(l)}`));
  parts.push(
    `report${incident.truncated ? " (cut at its bound: the rest is in the capture)" : ""}:`,
    ...incident.report.map((line) => `   ${visible(line)}`),
  );
  return parts.join("\n");
}
