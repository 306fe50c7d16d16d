// An incident for people: checklist with done / not done, deadlines as absolute times in the
// policy's zone with the time left (overdue in red), and the timeline.
import type { Context } from "../context.js";
import { formatDuration } from "../duration.js";
import { table } from "../output.js";
import { formatLocal } from "../time.js";
import type { IncidentReport } from "./incident.js";

/** Time left to the minute: seconds would only be noise next to a 72-hour deadline. */
export function formatLeft(ms: number): string {
  return formatDuration(Math.round(ms / 60_000) * 60_000);
}

export function deadlineLines(ctx: Context, report: IncidentReport): string[] {
  const c = ctx.out.color;
  return report.deadlines.map((d) => {
    const due = formatLocal(new Date(d.due), ctx.policy.timezone);
    const state = d.done ? c.green("done") : d.overdue ? c.red(`OVERDUE by ${formatLeft(-d.leftMs)}`) : `${formatLeft(d.leftMs)} left`;
    return `  ${d.name}: due ${due} (${state})`;
  });
}

export function checklistLines(ctx: Context, report: IncidentReport): string[] {
  const c = ctx.out.color;
  return report.checklist.map((s) => `  ${s.done ? c.green("[x]") : "[ ]"} ${String(s.step).padStart(2)} ${s.title}${s.done && s.evidence ? c.dim(` (${s.evidence})`) : ""}`);
}

/** The block shown after an operation of an incident, and at the top of `incident show`. */
export function incidentLines(ctx: Context, report: IncidentReport): string[] {
  const done = report.checklist.filter((s) => s.done).length;
  return [
    ctx.out.color.bold(`Incident ${report.id}`) + `, detected ${formatLocal(new Date(report.detectedAt), ctx.policy.timezone)}${report.detectedAtSource === "first entry" ? " (time of its first journal entry)" : ""}`,
    "Deadlines:",
    ...deadlineLines(ctx, report),
    `POLICY.md §5 revocation checklist (${done} of ${report.checklist.length} done):`,
    ...checklistLines(ctx, report),
    ctx.out.color.dim(`  Mark a manual step done: dropkeys incident done ${report.id} STEP --note "..."`),
  ];
}

export function timelineTable(ctx: Context, report: IncidentReport): string {
  const c = ctx.out.color;
  const rows = report.timeline.map((r) => [
    `#${r.seq}`,
    formatLocal(new Date(r.time), ctx.policy.timezone),
    r.type === "outcome" ? (r.outcome === "succeeded" ? c.green(r.outcome) : c.red(r.outcome ?? "")) : r.type === "event" ? (r.outcome ?? "event") : r.type,
    r.operation,
    r.target ?? "",
    r.actor,
    r.approvals.join(", "),
    clip(r.detail ?? "", 140),
  ]);
  return table(["SEQ", "TIME", "TYPE", "OPERATION", "TARGET", "WHO", "APPROVED BY", "DETAIL"], rows);
}

/** The full text is in --json and the journal; a table cell stays readable. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
