// `dropkeys audit-changes`: every change AWS recorded on an inventory key, alias or secret must
// match an approved journal entry. Coverage first (a gap is exit 4, never "all matched"), then the
// same reading as audit-decrypts, then matching, report, one journal `event` entry, exit code.
import type { GlobalOptions } from "../cli-options.js";
import { localActor, type Context } from "../context.js";
import { DropkeysError, ExitCode, usageError } from "../errors.js";
import type { Actor, JournalEntry, JournalRecord } from "../journal/journal.js";
import { chooseJournalSource, compareWithMirror, localJournalSource, mirrorJournalSource, type JournalSource } from "../journal/source.js";
import { parseDuration } from "../duration.js";
import { awsEntries, regionOf } from "../policy/load.js";
import { claimsOf, claimsWithoutEvents, matchChanges, type ChangeSubject, type Claim, type MatchedChange } from "./change-match.js";
import { SECRETS_SOURCE, type ChangeEvent } from "./changes.js";
import { changeRow, csvChangeRow, CHANGES_CSV_HEADER, renderChanges, type ChangesReport, type ChangeFinding } from "./changes-report.js";
import { checkCoverage, type Coverage } from "./coverage.js";
import { EventIdSet } from "./dedupe.js";
import { journalHistory, resolveScope, type AuditScope } from "./keys.js";
import { KMS_SOURCE } from "./normalize.js";
import { parseAuditFlags, readSource, type ReadResult, type SourceKind } from "./read.js";
import { severityAtLeast } from "./rules.js";
import type { FileResult, ScanFilter, Severity } from "./types.js";

export interface ChangesOptions extends GlobalOptions {
  source: string;
  since: string;
  until: string;
  ndjson: boolean;
  csv: boolean;
  failOn: string;
  strict: boolean;
  concurrency: string;
  workers?: string;
  coverage: boolean;
  clockSkew: string;
  journalSource?: string;
  incident?: string;
  reason?: string;
}

const HISTORY_DAYS = 90;
const DAY = 86_400_000;

/** Inventory names by key ARN and key id, growing as CreateKey events name new keys. */
export class Subjects {
  private readonly byArn = new Map<string, string>();
  private readonly arnById = new Map<string, string>();
  constructor(
    private readonly kmsNames: Set<string>,
    private readonly secretNames: Set<string>,
  ) {}
  addKey(arn: string, name: string): void {
    this.byArn.set(arn, name);
    this.arnById.set(arn.slice(arn.lastIndexOf("/") + 1), arn);
  }
  /** The inventory key or secret a change is about; undefined when it touches nothing of the inventory. */
  of(change: ChangeEvent): ChangeSubject | undefined {
    if (change.service === "secretsmanager") {
      const name = change.secrets.find((s) => this.secretNames.has(s));
      return name ? { name, kind: "secret" } : undefined;
    }
    if (change.name === "CreateKey") {
      const tagged = change.tags?.Name;
      if (tagged && this.kmsNames.has(tagged) && change.keys[0]) this.addKey(change.keys[0], tagged);
    }
    const arns = [...change.keys, ...change.keyIds.map((id) => this.arnById.get(id)).filter((a): a is string => a !== undefined)];
    for (const arn of arns) {
      const name = this.byArn.get(arn);
      if (name) return { name, kind: "kms-key", arn };
    }
    const alias = change.aliases.find((a) => this.kmsNames.has(a));
    return alias ? { name: alias, kind: "kms-key", arn: arns[0] } : undefined;
  }
}

/** What the change audit needs before reading: the journal, the inventory's keys and secrets, regions. */
export interface ChangeAudit {
  skewMs: number;
  journalSource: JournalSource;
  entries: JournalEntry[];
  journalDifferences: string[];
  subjects: Subjects;
  scope: AuditScope;
  secretNames: Set<string>;
  regions: string[];
  /** Changes read so far (deduplicated by event id). */
  collected: ChangeEvent[];
  duplicates: number;
  seen: EventIdSet;
}

/** Parse --clock-skew and --journal-source, read the journal, resolve the inventory's keys. */
export async function prepareChangeAudit(ctx: Context, options: { clockSkew: string; journalSource?: string | undefined }, mirror = mirrorJournalSource(ctx, ctx.journal())): Promise<ChangeAudit> {
  const skewMs = parseDuration(options.clockSkew);
  if (skewMs === undefined) throw usageError(`--clock-skew: expected a duration such as 5m or 90s, got "${options.clockSkew}"`);
  // The journal that explains changes: the mirror where there is one; the local copy is compared.
  const local = localJournalSource(ctx.journal());
  const journalSource = chooseJournalSource(options.journalSource, local, mirror);
  const entries = await journalSource.entries();
  const journalDifferences = journalSource.kind === "mirror" ? compareWithMirror(entries, await local.entries()) : [];
  for (const d of journalDifferences) ctx.out.warn(`local journal vs mirror: ${d}`);
  const inventory = awsEntries(ctx.policy);
  const kmsNames = new Set(inventory.filter((e) => e.kind === "kms-key").map((e) => e.name));
  const secretNames = new Set(inventory.filter((e) => e.kind !== "kms-key").map((e) => e.name));
  const scope = await resolveScope(ctx.policy, { keys: [], allKeys: false, history: journalHistory(entries) }, (r) => ctx.aws.kms(r));
  const subjects = new Subjects(kmsNames, secretNames);
  for (const k of scope.keys.values()) if (k.entry) subjects.addKey(k.arn, k.entry.name);
  const regions = [...new Set([...scope.regions, ...inventory.map((e) => regionOf(ctx.policy, e))])].sort();
  return { skewMs, journalSource, entries, journalDifferences, subjects, scope, secretNames, regions, collected: [], duplicates: 0, seen: new EventIdSet() };
}

/** The reader's second consumer: keep each file's changes once. */
export function collectChanges(audit: ChangeAudit, result: FileResult): void {
  for (const change of result.changes ?? []) {
    if (audit.seen.add(change.id)) audit.collected.push(change);
    else audit.duplicates++;
  }
}

/** Coverage of changes: the event history's 90 days (api), or trails recording KMS and Secrets Manager writes (archive). */
export function changeCoverage(regions: string[], kind: SourceKind, since: Date, now: Date, trails: Coverage | undefined): Coverage {
  return kind === "api" || !trails ? historyCoverage(regions, since, now) : archiveCoverage(trails);
}

/** Match what was read against the journal: the report's changes, attempts, findings and counts. */
export function analyzeChanges(
  audit: ChangeAudit,
  coverage: Coverage | { checked: false; reason: string },
  window: { since: Date; until: Date },
  reading: Pick<ReadResult, "read" | "skipped" | "skippedTotal" | "sources">,
  failOn: Severity | "none",
  performance: ChangesReport["performance"],
): ChangesReport {
  const { skewMs } = audit;
  const covered = (region: string) => "regions" in coverage && coverage.regions.some((r) => r.region === region && r.kmsWrites === true);
  // In time order, so a CreateKey names its key before later calls on it are resolved.
  audit.collected.sort((a, b) => a.time - b.time);
  const claims = claimsOf(audit.entries);
  const inScope: { change: ChangeEvent; subject: ChangeSubject }[] = [];
  const attempts: { change: ChangeEvent; subject: ChangeSubject }[] = [];
  for (const change of audit.collected) {
    const subject = audit.subjects.of(change);
    if (!subject) continue;
    // A refused call changed nothing: an attempt, reported, never a change.
    (change.errorCode ? attempts : inScope).push({ change, subject });
  }
  const matched = matchChanges(inScope, claims, skewMs).map((m) => (m.claim && !mirroredInTime(audit, m.claim, m.change) ? rematchWithoutLate(audit, m, claims) : m));
  const missing = "regions" in coverage ? claimsWithoutEvents(claims, { since: window.since.getTime() + skewMs, until: window.until.getTime() - skewMs }, covered) : [];
  const findings = [...matched.filter((m) => m.status === "unmatched").map(unmatchedFinding), ...missing.map(missingFinding)];
  return {
    command: "audit-changes",
    window: { since: window.since.toISOString(), until: window.until.toISOString() },
    clockSkewSeconds: skewMs / 1000,
    sources: reading.sources,
    journal: { source: audit.journalSource.kind, location: audit.journalSource.location, entries: audit.entries.length, differences: audit.journalDifferences },
    scope: {
      keys: [...audit.scope.keys.values()].map((k) => ({ name: k.label, arn: k.arn, region: k.region })),
      secrets: [...audit.secretNames].sort(),
      unresolved: audit.scope.unresolved,
    },
    coverage,
    read: reading.read,
    skipped: reading.skipped,
    skippedTotal: reading.skippedTotal,
    counts: {
      changes: matched.length,
      matched: matched.filter((m) => m.status === "matched").length,
      unmatched: matched.filter((m) => m.status === "unmatched").length,
      awsService: matched.filter((m) => m.status === "aws-service").length,
      attempts: attempts.length,
      journalWithoutEvents: missing.length,
      duplicates: audit.duplicates,
    },
    changes: matched.map(changeRow),
    attempts: attempts.map(({ change, subject }) => ({ ...changeRow({ change, subject, status: "unmatched" }), status: "attempt" as const, errorCode: change.errorCode })),
    journalWithoutEvents: missing.map(claimRow),
    findings,
    failOn,
    notes: [],
    performance,
  };
}

/** Exit 4: a coverage gap, or a finding at or above --fail-on. */
export function changesNeedAttention(report: ChangesReport): boolean {
  const gaps = "gaps" in report.coverage ? report.coverage.gaps.length : 0;
  return gaps > 0 || (report.failOn !== "none" && report.findings.some((f) => severityAtLeast(f.severity, report.failOn as Severity)));
}

export async function runChangesAudit(ctx: Context, options: ChangesOptions, mirror?: JournalSource): Promise<void> {
  const started = process.hrtime.bigint();
  const out = ctx.out;
  const { failOn, now, since, until, workers, concurrency, kind } = parseAuditFlags(options);

  const audit = await prepareChangeAudit(ctx, options, mirror);
  for (const u of audit.scope.unresolved) out.warn(`key ${u.name}: ${u.reason}; changes to it are found by the journal's ARNs and by alias only`);

  // Coverage first: a region whose changes are not recorded for the window is a gap, and exit 4.
  const coverage = options.coverage
    ? changeCoverage(audit.regions, kind, since, now, kind === "api" ? undefined : await checkCoverage((r) => ctx.aws.cloudtrail(r), audit.regions, "archive", [KMS_SOURCE, SECRETS_SOURCE]))
    : ({ checked: false, reason: "--no-coverage" } as const);
  if ("gaps" in coverage) for (const gap of coverage.gaps) out.warn(gap);

  const filter: ScanFilter = { since: since.getTime(), until: until.getTime(), keys: [], keepKeyless: false, changes: true };
  const reading = await readSource(
    ctx,
    { source: options.source, filter, regions: audit.regions, allRegions: false, eventSources: [KMS_SOURCE, SECRETS_SOURCE], workers, concurrency, counting: () => `${audit.collected.length} changes` },
    (r) => collectChanges(audit, r),
  );
  const readSeconds = Math.max(1e-3, Number(process.hrtime.bigint() - reading.readStarted) / 1e9);
  const performance = {
    seconds: round(Number(process.hrtime.bigint() - started) / 1e9),
    readSeconds: round(readSeconds),
    mbPerSecond: round(reading.read.bytes / 1e6 / readSeconds),
    peakRssMb: round(process.resourceUsage().maxRSS / 1024),
  };
  const report = analyzeChanges(audit, coverage, { since, until }, reading, failOn, performance);
  if (kind === "api" && now.getTime() - since.getTime() > HISTORY_DAYS * DAY) report.notes.push(`CloudTrail's event history keeps ${HISTORY_DAYS} days; read a trail's archive (--source s3://...) for older changes.`);

  if (options.ndjson || options.csv) {
    if (options.csv) process.stdout.write(CHANGES_CSV_HEADER + "\n");
    for (const row of report.changes) process.stdout.write((options.csv ? csvChangeRow(row) : JSON.stringify(row)) + "\n");
    process.stderr.write(changesSummary(report) + "\n");
  } else out.result(report, () => renderChanges(report, out.color));

  await journalChanges(ctx, report, options);

  if (options.strict && reading.skippedTotal > 0) {
    throw new DropkeysError("failed", `${reading.skippedTotal} input${reading.skippedTotal === 1 ? " was" : "s were"} skipped (--strict)`, {
      code: "audit.skipped",
      hint: "The warnings above name each file; without --strict the audit reports them and goes on.",
    });
  }
  if (changesNeedAttention(report)) process.exitCode = ExitCode.findings;
}

/** One line: counts, findings, gaps. */
export function changesSummary(report: ChangesReport): string {
  const gaps = "gaps" in report.coverage ? report.coverage.gaps.length : 0;
  const n = report.counts;
  const f = report.findings.length;
  return `${n.changes} changes: ${n.matched} matched, ${n.unmatched} outside dropkeys, ${n.awsService} by AWS; ${f} finding${f === 1 ? "" : "s"}${gaps ? `; ${gaps} coverage gap${gaps === 1 ? "" : "s"}` : ""}`;
}

/** CloudTrail's event history records every management event of the last 90 days, trail or not. */
function historyCoverage(regions: string[], since: Date, now: Date): Coverage {
  const oldest = now.getTime() - HISTORY_DAYS * DAY;
  const inside = since.getTime() >= oldest;
  const coverage: Coverage = { checked: true, regions: [], gaps: [] };
  for (const region of regions) {
    const message = inside
      ? `${region}: management events are in CloudTrail's 90-day event history.`
      : `${region}: changes before ${new Date(oldest).toISOString()} are NOT in CloudTrail's event history (90 days); read a trail's archive with --source s3://...`;
    coverage.regions.push({ region, kmsReads: null, kmsWrites: inside, trails: [], message });
    if (!inside) coverage.gaps.push(message);
  }
  return coverage;
}

/** A region is covered when a logging trail records KMS and Secrets Manager write events. */
function archiveCoverage(base: Coverage): Coverage {
  const coverage: Coverage = { checked: true, regions: [], gaps: [] };
  for (const r of base.regions) {
    const kms = r.trails.some((t) => t.writes?.[KMS_SOURCE]);
    const secrets = r.trails.some((t) => t.writes?.[SECRETS_SOURCE]);
    const missing = [kms ? undefined : "KMS", secrets ? undefined : "Secrets Manager"].filter(Boolean).join(" and ");
    const message =
      r.kmsWrites === null
        ? r.message
        : missing
          ? `${r.region}: ${missing} changes are NOT recorded by any trail${r.trails.length ? ` (${r.trails.map((t) => `${t.name}: ${t.notes.join("; ") || "excluded"}`).join(", ")})` : ""}: an empty answer does not mean "nothing changed".`
          : `${r.region}: key and secret changes are recorded (trail ${r.trails.filter((t) => t.writes?.[KMS_SOURCE] && t.writes[SECRETS_SOURCE]).map((t) => t.name).join(", ")}).`;
    const ok = r.kmsWrites !== null && !missing;
    coverage.regions.push({ ...r, kmsWrites: ok, message });
    if (!ok) coverage.gaps.push(message);
  }
  return coverage;
}

/**
 * Whether the mirror held a claim's intent when AWS recorded the change. dropkeys writes the intent
 * to the mirror before its AWS call; an intent that reached the mirror later was caught up from the
 * local journal, which whoever made the change could have written. Both times are AWS's clocks, so
 * --clock-skew (for the journal host's clock) does not apply: only CloudTrail's whole seconds do.
 */
function mirroredInTime(audit: ChangeAudit, claim: Claim, change: ChangeEvent): boolean {
  const stored = audit.journalSource.storedAt?.get(claim.intent.seq);
  return stored === undefined || stored <= change.time + MIRROR_BEFORE_CALL_MS;
}
const MIRROR_BEFORE_CALL_MS = 2000;

type Rematched = MatchedChange & { late?: { claim: Claim; storedAt: number } };

/** Match a change again without the claims mirrored after it; unmatched, it names the late claim. */
function rematchWithoutLate(audit: ChangeAudit, m: MatchedChange, claims: Claim[]): Rematched {
  const again = matchChanges([m], claims.filter((c) => mirroredInTime(audit, c, m.change)), audit.skewMs)[0]!;
  return again.status === "unmatched" ? { ...again, late: { claim: m.claim!, storedAt: audit.journalSource.storedAt!.get(m.claim!.intent.seq)! } } : again;
}

function unmatchedFinding(m: Rematched): ChangeFinding {
  const t = new Date(m.change.time).toISOString();
  const late = m.late
    ? `; journal entry #${m.late.claim.intent.seq} (${m.late.claim.operation}, request ${m.late.claim.requestId}) claims it but reached the mirror only at ${new Date(m.late.storedAt).toISOString()}, after the change: it was caught up from the local journal`
    : "";
  return {
    rule: "changed-outside-dropkeys",
    severity: "high",
    target: m.subject.name,
    arn: m.subject.arn,
    principal: m.change.actor,
    time: t,
    operation: m.change.name,
    message: `${m.change.name} on ${m.subject.name} by ${m.change.actor}: changed outside dropkeys (no approved journal entry explains it${late})`,
    evidence: [m.change.id],
  };
}

function missingFinding(c: Claim): ChangeFinding {
  return {
    rule: "journal-without-cloudtrail",
    severity: "high",
    target: c.name,
    arn: [...c.arns][0],
    principal: c.intent.actor.aws,
    time: c.intent.time,
    operation: c.operation,
    message: `the journal records ${c.operation} on ${c.name} (request ${c.requestId}) but CloudTrail has none of its calls (${c.required.join(", ")})`,
    evidence: [`journal seq ${c.intent.seq}`],
  };
}

function claimRow(c: Claim) {
  return { requestId: c.requestId, operation: c.operation, target: c.name, intentTime: c.intent.time, outcomeTime: c.outcome?.time, expected: c.required, approvers: c.approvers };
}

const round = (n: number) => Math.round(n * 100) / 100;

/** One `event` entry per run: window, sources, counts, findings; never event payloads. */
export async function journalChanges(ctx: Context, report: ChangesReport, options: { incident?: string | undefined; reason?: string | undefined; strict: boolean }): Promise<void> {
  let actor: Actor;
  try {
    actor = await ctx.identity();
  } catch {
    actor = { aws: "unknown", ...localActor() };
  }
  const entry: JournalRecord = {
    type: "event",
    operation: "audit-changes",
    actor,
    ...(options.incident ? { incident: options.incident } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
    outcome: options.strict && report.skippedTotal > 0 ? "failed" : "succeeded",
    params: {
      since: report.window.since,
      until: report.window.until,
      sources: report.sources.map((s) => `${s.kind}:${s.location}`),
      journalSource: report.journal.source,
      clockSkewSeconds: report.clockSkewSeconds,
      failOn: report.failOn,
    },
    details: { ...report.counts, findings: report.findings.length, coverageGaps: "gaps" in report.coverage ? report.coverage.gaps.length : null, skippedInputs: report.skippedTotal },
  };
  ctx.journal().append(entry);
}
