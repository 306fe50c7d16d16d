// Rendering of `audit-changes`: the human report (coverage, counts, every change outside dropkeys,
// journal entries AWS never saw), and one NDJSON line or CSV row per change.
import type { ChalkInstance } from "chalk";
import { table } from "../output.js";
import { formatLocal } from "../time.js";
import type { MatchedChange } from "./change-match.js";
import type { Coverage } from "./coverage.js";
import { severityColour, shortPrincipal, type AuditReport, type ReadStats } from "./report.js";
import type { Severity, SkippedInput } from "./types.js";

export interface ChangeRow {
  eventId: string;
  eventTime: string;
  eventName: string;
  region: string;
  /** The inventory key or secret. */
  target: string;
  kind: "kms-key" | "secret";
  arn?: string | undefined;
  actor: string;
  session?: string | undefined;
  status: "matched" | "unmatched" | "aws-service";
  invokedBy?: string | undefined;
  request?: { id: string; operation: string; approvers: string[]; incident?: string | undefined } | undefined;
}

export interface ChangeFinding {
  rule: "changed-outside-dropkeys" | "journal-without-cloudtrail";
  severity: Severity;
  target: string;
  arn?: string | undefined;
  principal: string;
  time: string;
  operation: string;
  message: string;
  evidence: string[];
}

export interface ChangesReport {
  command: "audit-changes";
  window: { since: string; until: string };
  clockSkewSeconds: number;
  sources: AuditReport["sources"];
  journal: { source: "local" | "mirror"; location: string; entries: number; differences: string[] };
  scope: { keys: { name: string; arn: string; region: string }[]; secrets: string[]; unresolved: { name: string; region: string; reason: string }[] };
  coverage: Coverage | { checked: false; reason: string };
  read: ReadStats;
  skipped: SkippedInput[];
  skippedTotal: number;
  counts: { changes: number; matched: number; unmatched: number; awsService: number; attempts: number; journalWithoutEvents: number; duplicates: number };
  changes: ChangeRow[];
  attempts: (Omit<ChangeRow, "status"> & { status: "attempt"; errorCode?: string | undefined })[];
  journalWithoutEvents: { requestId: string; operation: string; target: string; intentTime: string; outcomeTime?: string | undefined; expected: string[]; approvers: string[] }[];
  findings: ChangeFinding[];
  failOn: Severity | "none";
  notes: string[];
  performance: { seconds: number; readSeconds: number; mbPerSecond: number; peakRssMb: number };
}

export function changeRow(m: MatchedChange): ChangeRow {
  const c = m.change;
  return {
    eventId: c.id,
    eventTime: new Date(c.time).toISOString(),
    eventName: c.name,
    region: c.region,
    target: m.subject.name,
    kind: m.subject.kind,
    arn: m.subject.arn,
    actor: c.actor,
    session: c.session,
    status: m.status,
    invokedBy: c.invokedBy,
    request: m.claim ? { id: m.claim.requestId, operation: m.claim.operation, approvers: m.claim.approvers, incident: m.claim.incident } : undefined,
  };
}

export const CHANGES_CSV_HEADER = "time,event_id,event_name,region,target,arn,actor,status,request_id,operation,approvers";

const csvCell = (v: string | undefined) => (v === undefined ? "" : /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

export function csvChangeRow(r: ChangeRow): string {
  return [r.eventTime, r.eventId, r.eventName, r.region, r.target, r.arn, r.actor, r.status, r.request?.id, r.request?.operation, r.request?.approvers.join(";")].map(csvCell).join(",");
}

const local = (iso: string) => formatLocal(new Date(iso));

export function renderChanges(report: ChangesReport, c: ChalkInstance): string {
  const lines: string[] = [];
  lines.push(c.bold(`Key and secret changes ${local(report.window.since)} .. ${local(report.window.until)} against the journal (${report.journal.source}, ${report.journal.entries} entries)`));
  for (const s of report.sources) lines.push(`Source: ${s.kind} ${s.location}`);
  if ("regions" in report.coverage) for (const r of report.coverage.regions) lines.push(`Coverage: ${r.kmsWrites ? r.message : c.red(r.message)}`);
  else lines.push(c.dim(`Coverage: not checked (${report.coverage.reason})`));
  for (const d of report.journal.differences) lines.push(c.yellow(`Local journal vs mirror: ${d}`));
  const n = report.counts;
  lines.push(`${n.changes} change${n.changes === 1 ? "" : "s"}: ${n.matched} matched, ${n.unmatched} outside dropkeys, ${n.awsService} by AWS itself; ${n.attempts} refused attempt${n.attempts === 1 ? "" : "s"} (not changes)`);
  for (const note of report.notes) lines.push(c.dim(note));

  const outside = report.changes.filter((r) => r.status === "unmatched");
  if (outside.length) {
    lines.push("", c.red.bold("Changed outside dropkeys:"));
    lines.push(table(["TIME", "EVENT", "TARGET", "BY", "EVENT ID"], outside.map((r) => [local(r.eventTime), r.eventName, r.target, shortPrincipal(r.actor), r.eventId])));
  }
  const matched = report.changes.filter((r) => r.status === "matched");
  if (matched.length) {
    lines.push("", c.bold("Matched to approved requests:"));
    lines.push(table(["TIME", "EVENT", "TARGET", "REQUEST", "APPROVERS"], matched.map((r) => [local(r.eventTime), r.eventName, r.target, `${r.request!.operation} ${r.request!.id}`, r.request!.approvers.join(", ") || "-"])));
  }
  const service = report.changes.filter((r) => r.status === "aws-service");
  if (service.length) {
    lines.push("", c.bold("Made by AWS on its own behalf:"));
    lines.push(table(["TIME", "EVENT", "TARGET", "SERVICE"], service.map((r) => [local(r.eventTime), r.eventName, r.target, r.invokedBy ?? "-"])));
  }
  if (report.journalWithoutEvents.length) {
    lines.push("", c.red.bold("In the journal, but not in CloudTrail:"));
    for (const j of report.journalWithoutEvents) lines.push(`  ${local(j.intentTime)} ${j.operation} ${j.target} (request ${j.requestId}): no ${j.expected.join(" / ")}`);
  }
  lines.push("");
  const gaps = "gaps" in report.coverage ? report.coverage.gaps.length : 0;
  if (report.findings.length) {
    lines.push(c.bold(`Findings (${report.findings.length}):`));
    for (const f of report.findings) lines.push(`  ${severityColour(c, f.severity)(f.severity.toUpperCase().padEnd(8))} ${f.message}; ${f.evidence.join(" ")}`);
  }
  if (gaps) lines.push(c.red(`${gaps} region${gaps === 1 ? " is" : "s are"} not covered: changes there are not in what was read, so this is not "all matched".`));
  else if (report.findings.length) {
    /* the findings say it */
  } else if (report.coverage.checked) lines.push(c.green("Every change matches an approved journal entry."));
  else lines.push(c.yellow("No unexplained change in what was read (coverage not checked)."));
  if (report.skippedTotal) lines.push(c.yellow(`Skipped input: ${report.skippedTotal} (see the warnings above).`));
  return lines.join("\n");
}
