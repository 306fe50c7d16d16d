// `dropkeys audit-decrypts`: scope -> coverage -> read a source -> rules -> report, journal, exit
// code. Read-only: it changes nothing in AWS, so it does not go through the operation pipeline,
// but every run is one `event` entry in the journal (counts, never event payloads).
import type { GlobalOptions } from "../cli-options.js";
import { localActor, type Context } from "../context.js";
import { DropkeysError, ExitCode, failure, usageError } from "../errors.js";
import type { Actor } from "../journal/journal.js";
import { parseDuration } from "../duration.js";
import { checkCoverage } from "./coverage.js";
import { journalHistory, resolveScope, type AuditScope } from "./keys.js";
import { analyzeChanges, changeCoverage, changesNeedAttention, changesSummary, collectChanges, journalChanges, prepareChangeAudit } from "./changes-run.js";
import { renderChanges } from "./changes-report.js";
import { SECRETS_SOURCE } from "./changes.js";
import { KMS_SOURCE } from "./normalize.js";
import { emptyRead, parseAuditFlags, readSource, type SourceKind } from "./read.js";
import { csvRow, CSV_HEADER, eventRow, renderHuman, type AuditReport } from "./report.js";
import { findingOf, runOnAthena, type AthenaStats } from "./athena.js";
import { Auditor, ruleSettings, severityAtLeast, sortFindings } from "./rules.js";
import { athenaSql, athenaStatements } from "./sql.js";
import { SEVERITIES, type Finding, type ScanFilter, type Severity } from "./types.js";

export interface AuditOptions extends GlobalOptions {
  source: string;
  key: string[];
  allKeys: boolean;
  since: string;
  until: string;
  ndjson: boolean;
  csv: boolean;
  failOn: string;
  strict: boolean;
  printSql: boolean;
  athenaTable: string;
  engine: string;
  athenaWorkgroup: string;
  athenaOutput?: string;
  athenaDatabase: string;
  athenaTimeout: string;
  concurrency: string;
  workers?: string;
  coverage: boolean;
  incident?: string;
  reason?: string;
  /** Run audit-changes in the same pass over the source. */
  alsoChanges?: boolean;
  clockSkew?: string;
  journalSource?: string;
}

const HISTORY_DAYS = 90;

export async function runAudit(ctx: Context, options: AuditOptions): Promise<void> {
  const started = process.hrtime.bigint();
  const out = ctx.out;
  const { failOn, now, since, until, workers, concurrency, kind: sourceKind } = parseAuditFlags(options);
  if (options.engine !== "local" && options.engine !== "athena") throw usageError(`--engine: expected local or athena, got "${options.engine}"`);
  const athena = options.engine === "athena";
  if (athena && options.athenaOutput !== undefined && !/^s3:\/\/[^/]+/.test(options.athenaOutput)) throw usageError(`--athena-output: expected s3://BUCKET/PREFIX, got "${options.athenaOutput}"`);
  const athenaTimeoutMs = parseDuration(options.athenaTimeout) ?? 0;
  if (athena && !(athenaTimeoutMs > 0)) throw usageError(`--athena-timeout: expected a duration such as 30m, got "${options.athenaTimeout}"`);
  if (athena && options.alsoChanges) throw usageError("--also-changes reads the records themselves: it needs --engine local");

  const scope = await resolveScope(ctx.policy, { keys: options.key, allKeys: options.allKeys, history: keyHistory(ctx) }, (r) => ctx.aws.kms(r));
  if (!scope.all && scope.keys.size === 0) {
    throw failure("no key in scope could be resolved to an ARN, so no event can be matched", {
      code: "audit.scope",
      hint: `${scope.unresolved.map((u) => `${u.name}: ${u.reason}`).join("; ")}. Pass --key ARN for each key, or --all-keys.`,
    });
  }
  const settings = ruleSettings(ctx.policy);
  if (options.printSql) {
    const sql = athenaSql(ctx.policy, scope, settings, { table: options.athenaTable, since, until });
    if (options.json) out.result({ sql }, () => sql);
    else process.stdout.write(sql);
    return;
  }
  const notes: string[] = [];
  for (const u of scope.unresolved) out.warn(`key ${u.name}: ${u.reason}; its events are matched only by an ARN given with --key`);
  if (sourceKind === "api" && now.getTime() - since.getTime() > HISTORY_DAYS * 86_400_000) {
    notes.push(`CloudTrail's event history (LookupEvents) keeps ${HISTORY_DAYS} days: events before ${new Date(now.getTime() - HISTORY_DAYS * 86_400_000).toISOString()} are only in a trail's archive (--source s3://...).`);
  }
  if (scope.narrowed && sourceKind === "api") notes.push("With --key, LookupEvents is asked by ResourceName: failed calls that name no key are not included.");

  const coverage = options.coverage
    ? await checkCoverage((r) => ctx.aws.cloudtrail(r), scope.regions, sourceKind === "api" ? "api" : "archive")
    : ({ checked: false, reason: "--no-coverage" } as const);
  if ("gaps" in coverage) for (const gap of coverage.gaps) out.warn(gap);
  const also = options.alsoChanges ? await prepareAlsoChanges(ctx, options, sourceKind, scope, since, now) : undefined;

  const filter: ScanFilter = { since: since.getTime(), until: until.getTime(), keys: scope.all ? null : [...scope.keys.keys()], keepKeyless: !scope.narrowed, aliases: scope.aliases, ...(also ? { changes: true } : {}) };
  const auditor = new Auditor(scope, ctx.policy, settings);
  const streamOut = options.ndjson || options.csv;
  // `... --ndjson | head` closes the pipe early: stop writing, finish the audit (journal, exit code).
  let stdoutOpen = true;
  const write = (line: string) => {
    if (stdoutOpen) process.stdout.write(line + "\n");
  };
  if (streamOut) {
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
      stdoutOpen = false;
    });
  }
  if (options.csv) write(CSV_HEADER);
  const label = (arn: string) => auditor.label(arn);

  let athenaFindings: Finding[] | undefined;
  const { read, skipped, skippedTotal, sources, readStarted } = athena
    ? await (async () => {
        const statements = athenaStatements(ctx.policy, scope, settings, { table: options.athenaTable, since, until });
        const { rows, stats } = await runOnAthena(ctx.aws.athena(ctx.defaultRegion), statements, {
          workgroup: options.athenaWorkgroup,
          output: options.athenaOutput,
          database: options.athenaDatabase,
          timeoutMs: athenaTimeoutMs,
        });
        athenaFindings = sortFindings(rows.map((row) => findingOf(row, (arn) => auditor.label(arn))));
        notes.push("Athena engine: the findings of rules 1-5 only; the summary per key needs a local reading (--engine local).");
        return {
          ...emptyRead(),
          sources: [{ kind: "athena" as const, location: `${options.athenaDatabase}.${options.athenaTable} (workgroup ${options.athenaWorkgroup})`, detail: { queries: stats.queries } satisfies AthenaStats as unknown as Record<string, unknown> }],
        };
      })()
    : await readSource(
    ctx,
    {
      source: options.source,
      filter,
      regions: also ? also.regions : scope.regions,
      allRegions: scope.all,
      keysByRegion: scope.narrowed && !scope.all ? groupByRegion(scope) : undefined,
      ...(also ? { eventSources: [KMS_SOURCE, SECRETS_SOURCE] } : {}),
      workers,
      concurrency,
      counting: (r) => `${r.kmsEvents} KMS events`,
    },
    (r) => {
      if (also) collectChanges(also.audit, r);
      for (const event of r.events) {
        if (!auditor.add(event)) continue;
        if (streamOut) {
          const row = eventRow(event, auditor.keysOf(event), label);
          write(options.csv ? csvRow(row) : JSON.stringify(row));
        }
      }
    },
  );

  const findings = athenaFindings ?? auditor.findings();
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, findings.filter((f) => f.severity === s).length])) as Record<Severity, number>;
  if (auditor.counts.unresolved && !scope.all) {
    notes.push(`${auditor.counts.unresolved} event${auditor.counts.unresolved === 1 ? " names a key" : "s name keys"} that could not be resolved to an ARN (an alias of no inventory key); --all-keys lists them.`);
  }
  for (const k of auditor.uncheckable) notes.push(`Rule 1 not checked for ${k}: its decryptRoles/encryptRoles list no principals in the policy (roles.<name>.principals).`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const readSeconds = Math.max(1e-3, Number(process.hrtime.bigint() - readStarted) / 1e9);
  const report: AuditReport = {
    command: "audit-decrypts",
    window: { since: since.toISOString(), until: until.toISOString() },
    sources,
    scope: {
      allKeys: scope.all,
      keys: [...scope.keys.values()].map((k) => ({ name: k.label, arn: k.arn, region: k.region })),
      unresolved: scope.unresolved,
    },
    coverage,
    read,
    skipped,
    skippedTotal,
    counts: auditor.counts,
    summary: athena ? [] : auditor.summary(),
    findings,
    findingsBySeverity: bySeverity,
    failOn,
    notes,
    performance: {
      seconds: round(seconds),
      readSeconds: round(readSeconds),
      // Rates over the reading itself (key resolution and the coverage check are not reading).
      mbPerSecond: round(read.bytes / 1e6 / readSeconds),
      eventsPerSecond: Math.round(read.kmsEvents / readSeconds),
      recordsPerSecond: Math.round(read.records / readSeconds),
      // maxRSS covers the parser threads too: they live in this process.
      peakRssMb: round(process.resourceUsage().maxRSS / 1024),
      workers: sourceKind === "local" ? workers : 0,
    },
  };

  if (streamOut) {
    const counts = SEVERITIES.filter((s) => bySeverity[s]).map((s) => `${bySeverity[s]} ${s}`);
    process.stderr.write(`${auditor.counts.events} events, ${findings.length} finding${findings.length === 1 ? "" : "s"}${counts.length ? ` (${counts.join(", ")})` : ""}\n`);
  }
  const changes = also ? analyzeChanges(also.audit, also.coverage, { since, until }, { read, skipped, skippedTotal, sources }, failOn, report.performance) : undefined;
  if (streamOut && changes) process.stderr.write(changesSummary(changes) + "\n");
  if (!streamOut) out.result(changes ? { ...report, changeAudit: changes } : report, () => renderHuman(report, out.color) + (changes ? `\n\n${renderChanges(changes, out.color)}` : ""));

  await journal(ctx, report, options);
  if (changes) await journalChanges(ctx, changes, options);

  if (options.strict && skippedTotal > 0) {
    throw new DropkeysError("failed", `${skippedTotal} input${skippedTotal === 1 ? " was" : "s were"} skipped (--strict)`, {
      code: "audit.skipped",
      hint: "The warnings above name each file; without --strict the audit reports them and goes on.",
    });
  }
  if ((failOn !== "none" && findings.some((f) => severityAtLeast(f.severity, failOn))) || (changes && changesNeedAttention(changes))) process.exitCode = ExitCode.findings;
}

/** Earlier ARNs of inventory keys from the journal; an unreadable journal only loses that. */
function keyHistory(ctx: Context): { name: string; arn: string }[] {
  try {
    return journalHistory(ctx.journal().entries());
  } catch {
    return [];
  }
}

/** --also-changes: the change audit's journal, keys and coverage, read by the same pass. */
async function prepareAlsoChanges(ctx: Context, options: AuditOptions, kind: SourceKind, scope: AuditScope, since: Date, now: Date) {
  // LookupEvents by ResourceName (--key) returns no Secrets Manager events: the change audit needs every one.
  if (kind === "api" && scope.narrowed) throw usageError("--also-changes reads every key and secret change: with --source api it cannot be combined with --key");
  const audit = await prepareChangeAudit(ctx, { clockSkew: options.clockSkew ?? "5m", journalSource: options.journalSource });
  const regions = [...new Set([...scope.regions, ...audit.regions])].sort();
  const coverage = options.coverage
    ? changeCoverage(audit.regions, kind, since, now, kind === "api" ? undefined : await checkCoverage((r) => ctx.aws.cloudtrail(r), audit.regions, "archive", [KMS_SOURCE, SECRETS_SOURCE]))
    : ({ checked: false, reason: "--no-coverage" } as const);
  if ("gaps" in coverage) for (const gap of coverage.gaps) ctx.out.warn(gap);
  return { audit, regions, coverage };
}

function groupByRegion(scope: AuditScope): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const k of scope.keys.values()) map.set(k.region, [...(map.get(k.region) ?? []), k.arn]);
  return map;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** One `event` entry per run: who, window, sources, counts, number of findings; never events. */
async function journal(ctx: Context, report: AuditReport, options: AuditOptions): Promise<void> {
  let actor: Actor;
  try {
    actor = await ctx.identity();
  } catch {
    // Reading a local copy needs no AWS identity; the journal still says who ran it.
    actor = { aws: "unknown", ...localActor() };
  }
  // One key named: the journal's target (an incident's step 9 shows it as evidence).
  const keys = report.scope.keys;
  const single = !report.scope.allKeys && options.key.length === 1 && keys.length >= 1 ? { ...keys[0]!, arn: keys.length === 1 ? keys[0]!.arn : undefined } : undefined;
  ctx.journal().append({
    type: "event",
    operation: "audit-decrypts",
    actor,
    ...(single ? { target: { name: single.name.replace(/ \(earlier key\)$/, ""), ...(single.arn ? { arn: single.arn } : {}), region: single.region, kind: "kms-key" } } : {}),
    ...(options.incident ? { incident: options.incident } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
    outcome: options.strict && report.skippedTotal > 0 ? "failed" : "succeeded",
    params: {
      since: report.window.since,
      until: report.window.until,
      sources: report.sources.map((s) => `${s.kind}:${s.location}`),
      keys: report.scope.allKeys ? "all" : report.scope.keys.map((k) => k.name),
      failOn: report.failOn,
      strict: options.strict,
    },
    details: {
      files: report.read.files,
      filesSkipped: report.read.filesSkipped,
      records: report.read.records,
      kmsEvents: report.read.kmsEvents,
      events: report.counts.events,
      uses: report.counts.uses,
      failures: report.counts.failures,
      skippedInputs: report.skippedTotal,
      findings: report.findings.length,
      findingsBySeverity: report.findingsBySeverity,
      coverageGaps: "gaps" in report.coverage ? report.coverage.gaps.length : null,
    },
  });
}
