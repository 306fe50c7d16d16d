// Rendering of an audit: the human report (summary per key, findings by severity), one NDJSON
// line or CSV row per matching event.
import type { ChalkInstance } from "chalk";
import { table } from "../output.js";
import { formatLocal } from "../time.js";
import type { Coverage } from "./coverage.js";
import type { KeySummary } from "./rules.js";
import type { AuditEvent, Finding, Severity, SkippedInput } from "./types.js";

export interface ReadStats {
  files: number;
  filesSkipped: number;
  filesIgnored: number;
  filesOutsideWindow: number;
  bytes: number;
  compressedBytes: number;
  records: number;
  kmsEvents: number;
  badEvents: number;
  requests?: number;
  throttled?: number;
}

export interface AuditReport {
  command: "audit-decrypts";
  window: { since: string; until: string };
  sources: { kind: "api" | "s3" | "local" | "athena"; location: string; detail?: Record<string, unknown> }[];
  scope: { allKeys: boolean; keys: { name: string; arn: string; region: string }[]; unresolved: { name: string; region: string; reason: string }[] };
  coverage: Coverage | { checked: false; reason: string };
  read: ReadStats;
  skipped: SkippedInput[];
  skippedTotal: number;
  counts: { events: number; uses: number; management: number; failures: number; duplicates: number; unresolved: number };
  summary: KeySummary[];
  findings: Finding[];
  findingsBySeverity: Record<Severity, number>;
  failOn: Severity | "none";
  notes: string[];
  performance: { seconds: number; readSeconds: number; mbPerSecond: number; eventsPerSecond: number; recordsPerSecond: number; peakRssMb: number; workers: number };
}

/** "123456789012:role/drop-app-runner" from an IAM/STS ARN; other principals as they are. */
export function shortPrincipal(principal: string): string {
  const m = /^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)$/.exec(principal);
  return m ? `${m[1]}:${m[2]}` : principal;
}

const HUMAN_EVIDENCE = 5;
const local = (iso: string | undefined) => (iso ? formatLocal(new Date(iso)) : "-");

export function severityColour(c: ChalkInstance, s: Severity): (text: string) => string {
  return s === "critical" ? c.bgRed.white.bold : s === "high" ? c.red.bold : s === "medium" ? c.yellow : c.cyan;
}

export function renderHuman(report: AuditReport, c: ChalkInstance): string {
  const lines: string[] = [];
  lines.push(c.bold(`KMS key use ${local(report.window.since)} .. ${local(report.window.until)}`));
  for (const s of report.sources) lines.push(`Source: ${s.kind} ${s.location}`);
  const r = report.read;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  lines.push(
    `Read: ${r.files} ${report.sources[0]?.kind === "api" ? "LookupEvents page" : "file"}${r.files === 1 ? "" : "s"}${r.requests ? ` (${r.requests} requests, ${r.throttled ?? 0} throttled)` : ""}${r.filesSkipped ? c.yellow(` (${r.filesSkipped} skipped)`) : ""}, ${mb(r.bytes)}, ${r.records} records, ${r.kmsEvents} KMS events, ${report.counts.events} in scope` +
      (report.counts.duplicates ? `, ${report.counts.duplicates} duplicate${report.counts.duplicates === 1 ? "" : "s"} dropped` : "") +
      (r.badEvents ? c.yellow(`, ${r.badEvents} malformed event${r.badEvents === 1 ? "" : "s"} skipped`) : ""),
  );
  if ("regions" in report.coverage) for (const reg of report.coverage.regions) lines.push(`Coverage: ${reg.kmsReads && reg.kmsWrites ? reg.message : c.red(reg.message)}`);
  else lines.push(c.dim(`Coverage: not checked (${report.coverage.reason})`));
  for (const u of report.scope.unresolved) lines.push(c.yellow(`Key ${u.name}: ${u.reason}; its events are matched only by an ARN given with --key.`));
  for (const n of report.notes) lines.push(c.dim(n));

  for (const k of report.summary) {
    lines.push("");
    const head = `${c.bold(k.key)}${k.arn && k.arn !== k.key ? c.dim(` ${k.arn}`) : ""}`;
    lines.push(`${head}: ${k.uses} use${k.uses === 1 ? "" : "s"}, ${k.failures ? c.yellow(`${k.failures} failed`) : "0 failed"}, ${k.management} management` + (k.first ? `, ${local(k.first)} .. ${local(k.last)}` : ""));
    if (k.principals.length === 0) {
      lines.push(c.dim("  no events in the window"));
      continue;
    }
    const rows = k.principals.map((p) => [
      shortPrincipal(p.principal),
      p.via.join(", ") || "-",
      Object.entries(p.operations)
        .map(([op, n]) => `${op} ${n}`)
        .join(", "),
      String(p.uses),
      p.failures ? c.yellow(String(p.failures)) : "0",
      local(p.first),
      local(p.last),
    ]);
    lines.push(
      table(["PRINCIPAL", "VIA", "OPERATIONS", "USES", "FAILED", "FIRST SEEN", "LAST SEEN"], rows)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }

  lines.push("");
  const by = report.findingsBySeverity;
  if (report.findings.length === 0) lines.push(c.green("No findings."));
  else {
    const counts = (["critical", "high", "medium", "notable"] as const).filter((s) => by[s]).map((s) => `${by[s]} ${s}`);
    lines.push(c.bold(`Findings (${report.findings.length}): ${counts.join(", ")}`));
    for (const f of report.findings) {
      const colour = severityColour(c, f.severity);
      const span = f.first === f.last ? local(f.first) : `${local(f.first)} .. ${local(f.last)}`;
      lines.push(`  ${colour(f.severity.toUpperCase().padEnd(8))} rule ${f.rule}  ${f.message}`);
      // The message names key and principal; the evidence line stays short (--json has up to 50 ids).
      const shown = f.evidence.slice(0, HUMAN_EVIDENCE);
      lines.push(c.dim(`           ${span}; events: ${shown.join(" ")}${f.evidenceTotal > shown.length ? ` (+${f.evidenceTotal - shown.length} more)` : ""}`));
    }
  }
  if (report.skippedTotal) lines.push(c.yellow(`Skipped input: ${report.skippedTotal} (see the warnings above).`));
  return lines.join("\n");
}

export interface EventRow {
  time: string;
  eventId: string;
  eventName: string;
  keys: string[];
  keyArns: string[];
  principal: string;
  session?: string | undefined;
  via?: string | undefined;
  sourceIp?: string | undefined;
  errorCode?: string | undefined;
  region: string;
  account: string;
}

export function eventRow(event: AuditEvent, keyArns: string[], label: (arn: string) => string): EventRow {
  return {
    time: new Date(event.time).toISOString(),
    eventId: event.id,
    eventName: event.name,
    keys: keyArns.map(label),
    keyArns,
    principal: event.principal,
    session: event.session,
    via: event.via,
    sourceIp: event.sourceIp,
    errorCode: event.errorCode,
    region: event.region,
    account: event.account,
  };
}

export const CSV_HEADER = "time,event_id,event_name,key,key_arn,principal,session,via,source_ip,error_code,region,account";

const csvCell = (v: string | undefined) => (v === undefined ? "" : /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

export function csvRow(row: EventRow): string {
  return [row.time, row.eventId, row.eventName, row.keys.join(";"), row.keyArns.join(";"), row.principal, row.session, row.via, row.sourceIp, row.errorCode, row.region, row.account]
    .map(csvCell)
    .join(",");
}
