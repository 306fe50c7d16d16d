// `rotate-jwt` as an operation of the pipeline: scheduled (rule rotate-jwt) or emergency (rule
// rotate-jwt-emergency, sessions revoked). The params hold everything resolved (overlap,
// compromise window, report path), so `dropkeys apply` rebuilds exactly the approved operation.
import path from "node:path";
import type { Context } from "../lib/context.js";
import { databaseUrl, openDatabase, redactUrl } from "../lib/db/index.js";
import { formatDuration, parseDuration } from "../lib/duration.js";
import { failure, isDropkeysError, usageError } from "../lib/errors.js";
import { isValidIncidentId, STEP_OPERATION } from "../lib/incident/incident.js";
import type { JournalVerification } from "../lib/journal/journal.js";
import { runDeployCommand, type DeployResult } from "../lib/jwt/deploy.js";
import {
  overlapRunningError,
  requireState,
  rotate,
  unfinishedError,
  verifyLabels,
  versionTokenFor,
  type RotationResult,
  type RotationStep,
} from "../lib/jwt/rotation.js";
import { describeLabels, phaseOf, readState, type SecretState } from "../lib/jwt/secret-state.js";
import { renderRotateJwt } from "./rotate-jwt-render.js";
import { reportFormat, revokeSessions, sessionStatements, writeSessionReport } from "../lib/jwt/sessions.js";
import type { OperationResult, OperationSpec } from "./pipeline.js";
import type { Policy } from "../lib/policy/schema.js";
import { resolveEntry } from "../lib/targets.js";
import { formatLocal, parseTimeArg } from "../lib/time.js";
import type { OperationInput } from "./input.js";
import type { RotateJwtParams } from "../lib/jwt/results.js";
import type { RotateJwtResult } from "../lib/jwt/results.js";

export const OPERATION = "rotate-jwt";
/** POLICY.md §4: one draft allows the old JWT secret to verify 5 more minutes after a compromise. */
export const EMERGENCY_OVERLAP_LIMIT_MS = 5 * 60_000;

/** The flags of `dropkeys rotate-jwt`, resolved into params (defaults made explicit). */
export interface RotateJwtFlags {
  emergency?: boolean;
  overlap?: string | undefined;
  detectedAt?: string | undefined;
  compromisedSince?: string | undefined;
  report?: string | undefined;
}

export function defaultOverlapMs(policy: Policy, emergency: boolean): number {
  return emergency ? policy.jwt.emergencyOverlap : policy.jwt.tokenLifetime + policy.jwt.cacheTtl;
}

export async function paramsFromFlags(ctx: Context, name: string, flags: RotateJwtFlags): Promise<RotateJwtParams> {
  const emergency = flags.emergency === true;
  let overlapMs = defaultOverlapMs(ctx.policy, emergency);
  if (flags.overlap !== undefined) {
    const parsed = parseDuration(flags.overlap);
    if (parsed === undefined) throw usageError(`--overlap "${flags.overlap}" is not a duration`, { hint: "e.g. --overlap 25h, or --overlap 5m with --emergency" });
    overlapMs = parsed;
  }
  if (!emergency) {
    for (const [flag, value] of [["--compromised-since", flags.compromisedSince], ["--report", flags.report], ["--detected-at", flags.detectedAt]] as const) {
      if (value !== undefined) throw usageError(`${flag} belongs to an emergency rotation`, { hint: "Add --emergency --incident ID, or leave it out." });
    }
    return { name, emergency, overlapMs };
  }
  const now = new Date();
  const detectedAt = flags.detectedAt ? parseTimeArg(flags.detectedAt, "--detected-at", now) : now;
  const since = flags.compromisedSince ? parseTimeArg(flags.compromisedSince, "--compromised-since", now) : await currentVersionCreated(ctx, name, now);
  return {
    name,
    emergency,
    overlapMs,
    detectedAt: detectedAt.toISOString(),
    compromisedSince: since.toISOString(),
    ...(flags.report ? { report: path.resolve(flags.report) } : {}),
  };
}

/** Default start of the compromise window: when the value now in use was created. */
async function currentVersionCreated(ctx: Context, name: string, now: Date): Promise<Date> {
  const target = resolveEntry(ctx, name, ["secret"]);
  const { ListSecretVersionIdsCommand } = await import("@aws-sdk/client-secrets-manager");
  try {
    const out = await ctx.aws.secrets(target.region).send(new ListSecretVersionIdsCommand({ SecretId: target.name }));
    return out.Versions?.find((v) => v.VersionStages?.includes("AWSCURRENT"))?.CreatedDate ?? now;
  } catch {
    return now;
  }
}

export function readParams(ctx: Context, input: Pick<OperationInput, "name" | "params">): RotateJwtParams {
  const p = input.params;
  const emergency = p.emergency === true;
  const overlapMs = typeof p.overlapMs === "number" ? p.overlapMs : defaultOverlapMs(ctx.policy, emergency);
  const iso = (key: string): string | undefined => {
    const value = p[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || Number.isNaN(Date.parse(value))) throw usageError(`${key} "${String(value)}" is not a time`);
    return new Date(value).toISOString();
  };
  return {
    name: input.name,
    emergency,
    overlapMs,
    detectedAt: iso("detectedAt"),
    compromisedSince: iso("compromisedSince"),
    report: typeof p.report === "string" ? p.report : undefined,
  };
}

function validate(ctx: Context, params: RotateJwtParams, incident: string | undefined): void {
  const jwt = ctx.policy.jwt;
  if (!Number.isFinite(params.overlapMs) || params.overlapMs < 0) throw usageError("the overlap must be a duration of 0 or more");
  if (!params.emergency) {
    if (params.overlapMs < jwt.tokenLifetime) {
      throw usageError(`--overlap ${formatDuration(params.overlapMs)} is shorter than the JWT lifetime (${formatDuration(jwt.tokenLifetime)}): tokens signed just before the rotation would stop verifying while still valid`, {
        code: "jwt.overlap-too-short",
        hint: `Use at least ${formatDuration(jwt.tokenLifetime)} (default: lifetime + cache TTL = ${formatDuration(jwt.tokenLifetime + jwt.cacheTtl)}), or --emergency.`,
      });
    }
    return;
  }
  if (!incident) {
    throw usageError("an emergency rotation needs --incident ID (POLICY.md §5: the incident ticket)", {
      code: "jwt.incident-required",
      hint: "e.g. dropkeys rotate-jwt --emergency --incident INC-20261123-1405 --reason 'JWT secret leaked'",
    });
  }
  if (!isValidIncidentId(incident)) throw usageError(`--incident "${incident}" is not an incident id`, { hint: "Use letters, digits, '-', '_' or '.', e.g. INC-20261123-1405." });
  const limit = Math.max(jwt.emergencyOverlap, EMERGENCY_OVERLAP_LIMIT_MS);
  if (params.overlapMs > limit) {
    throw usageError(`--overlap ${formatDuration(params.overlapMs)} is too long for an emergency rotation: the old secret is compromised (at most ${formatDuration(limit)})`, {
      code: "jwt.emergency-overlap",
    });
  }
  if (params.compromisedSince && Date.parse(params.compromisedSince) > Date.now() + 60_000) throw usageError("--compromised-since is in the future");
  if (params.report) reportFormat(params.report);
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<RotateJwtResult>> {
  const target = resolveEntry(ctx, input.name, ["secret"]);
  const params = readParams(ctx, { ...input, name: target.name });
  validate(ctx, params, input.incident);
  const sm = ctx.aws.secrets(target.region);
  const initial = await requireState(sm, target.name);
  const dbUrl = params.emergency ? databaseUrl(ctx.policy) : undefined;
  const statements = sessionStatements(ctx.policy);
  const deployCommand = ctx.policy.jwt.deployCommand;
  const journalTarget = { name: target.name, arn: initial.arn, region: target.region, kind: "secret" };
  // The window ends when the sessions are revoked (approval may take a while): set in execute().
  const since = params.compromisedSince ? new Date(params.compromisedSince) : undefined;
  // What execute() got done, for the failure report.
  const progress: { rotation?: RotationResult; sessionsRevoked?: number; deploy?: DeployResult } = {};

  const summary = params.emergency
    ? `EMERGENCY rotation of ${target.name} (${target.region}), incident ${input.incident}: new value now, the old one ${params.overlapMs ? `verifies ${formatDuration(params.overlapMs)} more` : "stops verifying at once"}, every session revoked`
    : `Rotate ${target.name} (${target.region}): new HS256 value; the old one keeps verifying for ${formatDuration(params.overlapMs)}, then --finish retires it`;

  return {
    operation: OPERATION,
    rule: params.emergency ? "rotate-jwt-emergency" : "rotate-jwt",
    target: initial.arn,
    journalTarget,
    params: { ...params },
    reason: input.reason,
    incident: input.incident,
    summary,
    // A crash after step 1 or 3 is completed by running the same approved request again.
    resumable: true,

    async preflight() {
      const state = await requireState(sm, target.name);
      const phase = phaseOf(state);
      const now = new Date();
      const facts = [`${target.name} (${target.region}): ${describeLabels(state)}`];
      const warnings: string[] = [];
      if (params.emergency) {
        facts.push(
          params.overlapMs ? `The old value keeps verifying ${formatDuration(params.overlapMs)} (emergency overlap), then --finish retires it` : "The old value stops verifying at once (AWSPREVIOUS removed)",
          `Every session is revoked in ${redactUrl(dbUrl!)} with: ${statements.revoke}`,
        );
        if (since) facts.push(`Compromise window: since ${formatLocal(since)}${params.report ? `; sessions active in it go to ${params.report}` : ""}`);
        const db = await openDatabase(dbUrl!);
        await db.close();
      } else {
        facts.push(`Overlap ${formatDuration(params.overlapMs)} (JWT lifetime ${formatDuration(ctx.policy.jwt.tokenLifetime)} + secrets cache ${formatDuration(ctx.policy.jwt.cacheTtl)}): the old value keeps verifying until about ${formatLocal(new Date(now.getTime() + params.overlapMs))}`);
        // The overlap or half-done promotion of a run of ours that died: the same request may finish it.
        const promotedVersion = phase.kind === "overlap" || phase.kind === "half-promoted" || phase.kind === "promoted" ? phase.version : undefined;
        const resumable = promotedVersion ? interruptedRunOf(ctx, promotedVersion) : undefined;
        if (resumable) facts.push(`Resumes the interrupted run of request ${resumable} (its version ${promotedVersion} was promoted): the rest of it, deploy included, runs again`);
        else if (phase.kind === "overlap" && phase.ends > now) throw overlapRunningError(state, phase.ends, now);
        else if (phase.kind === "half-promoted" || phase.kind === "promoted") throw unfinishedError(state, phase.version);
      }
      if (phase.kind === "pending") warnings.push(`an interrupted rotation left version ${phase.version} with AWSPENDING: it is rolled back (or reused, when this is the same request run again)`);
      if (phase.kind === "overlap" && phase.ends > now && params.emergency) facts.push(`A scheduled rotation's overlap (until ${formatLocal(phase.ends)}) is cut short: this is an emergency`);
      facts.push(deployCommand ? `Then the deploy command runs: ${deployCommand}` : "No deploy command in the policy (jwt.deployCommand): deploy by hand afterwards");
      return { facts, warnings };
    },

    async execute(request) {
      const journal = ctx.journal();
      const actor = await ctx.identity();
      const onStep = (step: RotationStep) => {
        journal.append({ type: "event", operation: OPERATION, requestId: request.id, target: journalTarget, actor, incident: input.incident, details: { ...step } });
        ctx.out.info(ctx.out.color.dim(`  ${step.step}: ${step.detail}`));
      };
      const rotation = await rotate({ sm, secretId: target.name, token: versionTokenFor(request.id), emergency: params.emergency, overlapMs: params.overlapMs, onStep });
      progress.rotation = rotation;
      const result: RotateJwtResult = { ...rotation };
      // The incident checklist (POLICY.md §5) learns what this run did for it.
      const stepDone = (step: number, reason: string) => {
        if (params.emergency && input.incident) journal.append({ type: "event", operation: STEP_OPERATION, requestId: request.id, incident: input.incident, actor, params: { step }, reason });
      };
      if (rotation.previousRetired) stepDone(3, `${target.name}: the compromised version ${rotation.oldVersion} no longer verifies (rotate-jwt --emergency)`);

      if (params.emergency) {
        const db = await openDatabase(dbUrl!);
        const window = since ? { since, until: new Date() } : undefined;
        try {
          const revoked = await revokeSessions(db, statements, params.report ? window : undefined);
          progress.sessionsRevoked = revoked.revoked;
          stepDone(5, `${target.name} encrypts nothing at rest; what it signed is revoked instead: ${revoked.revoked} session(s) revoked`);
          result.sessions = { revoked: revoked.revoked, database: db.kind };
          journal.append({ type: "event", operation: OPERATION, requestId: request.id, target: journalTarget, actor, incident: input.incident, details: { step: "sessions-revoked", revoked: revoked.revoked, database: db.kind } });
          if (params.report && window && revoked.active) {
            writeSessionReport(params.report, {
              incident: input.incident,
              secret: target.name,
              compromisedSince: window.since.toISOString(),
              until: window.until.toISOString(),
              revokedSessions: revoked.revoked,
              sessions: revoked.active,
            });
            result.sessions.reported = revoked.active.length;
            result.sessions.report = params.report;
          }
        } finally {
          await db.close();
        }
      }

      if (deployCommand) {
        ctx.out.info(`Running the deploy command: ${deployCommand}`);
        const deploy = await runDeployCommand(deployCommand, { json: ctx.out.json, secret: target.name, version: rotation.newVersion });
        progress.deploy = deploy;
        result.deploy = deploy;
        if (deploy.ok) stepDone(7, `deploy command succeeded after the rotation of ${target.name}: ${deployCommand}`);
        if (!deploy.ok) {
          throw failure(`the deploy command failed (${deploy.signal ? `signal ${deploy.signal}` : `exit ${deploy.exitCode ?? "not started"}`}): ${deployCommand}`, {
            code: "jwt.deploy-failed",
            details: { deploy },
          });
        }
      }
      return result;
    },

    async verify(result) {
      const labels = await verifyLabels(sm, target.name, {
        current: result.newVersion,
        pendingAbsent: true,
        ...(result.previousRetired ? { retired: result.oldVersion } : { previous: result.oldVersion }),
      });
      const extra: string[] = [];
      if (result.sessions) extra.push(`${result.sessions.revoked} session(s) revoked in ${result.sessions.database}`);
      if (result.sessions?.report) extra.push(`${result.sessions.reported} session(s) reported in ${result.sessions.report}`);
      const verification: JournalVerification = { ...labels, detail: [labels.detail, ...extra].filter(Boolean).join("; ") };
      return verification;
    },

    async onFailure(error) {
      return failureReport(await readState(sm, target.name).catch(() => undefined), progress, error, params, deployCommand, statements.revoke);
    },

    outcomeDetails(result) {
      return {
        oldVersion: result.oldVersion,
        newVersion: result.newVersion,
        reused: result.reused,
        ...(result.recovered.length ? { recovered: result.recovered } : {}),
        overlapMs: result.overlapMs,
        overlapEnds: result.overlapEnds?.toISOString(),
        previousRetired: result.previousRetired,
        test: result.test.detail,
        ...(result.sessions ? { sessions: result.sessions } : {}),
        ...(result.deploy ? { deploy: { command: result.deploy.command, exitCode: result.deploy.exitCode } } : {}),
        ...(params.detectedAt ? { detectedAt: params.detectedAt } : {}),
      };
    },
  };
}

/** The request id of an interrupted rotate-jwt run whose version is `version`, if the journal has one. */
function interruptedRunOf(ctx: Context, version: string): string | undefined {
  const journal = ctx.journal();
  const intent = journal.entries().find((e) => e.type === "intent" && e.operation === OPERATION && e.requestId && versionTokenFor(e.requestId) === version);
  return intent?.requestId && journal.isInterruptedRequest(intent.requestId) ? intent.requestId : undefined;
}

/** After a failure: the secret's state in plain words and what to run next. */
function failureReport(
  state: SecretState | undefined,
  progress: { rotation?: RotationResult; sessionsRevoked?: number; deploy?: DeployResult },
  error: unknown,
  params: RotateJwtParams,
  deployCommand: string | undefined,
  revokeStatement: string,
): { state: string; next: string[] } {
  const labels = state ? describeLabels(state) : "could not be read";
  const r = progress.rotation;
  const finish = "dropkeys rotate-jwt --finish";
  if (!r) {
    const code = isDropkeysError(error) ? error.code : "";
    const unchanged = code === "jwt.concurrent-rotation" || code === "jwt.test-failed" || code === "jwt.overlap-running";
    return {
      state: `${params.name} was ${unchanged ? "not changed" : "not promoted by this run"}: ${labels}`,
      next: unchanged ? ["dropkeys status"] : [`${finish}   (completes or rolls back what this run left)`, "then write and approve a new request: dropkeys rotate-jwt ..."],
    };
  }
  const overlap = r.previousRetired ? `old version ${r.oldVersion} no longer verifies` : `old version ${r.oldVersion} verifies until ${r.overlapEnds ? formatLocal(r.overlapEnds) : "the overlap is recorded"}`;
  const rotated = `${params.name} is rotated: new version ${r.newVersion} is AWSCURRENT, ${overlap} (${labels})`;
  const next: string[] = [];
  if (params.emergency && progress.sessionsRevoked === undefined) {
    next.push(`revoke every session by hand (nothing was revoked), in the Drop database: ${revokeStatement}`);
  }
  if (params.emergency && progress.sessionsRevoked !== undefined && params.report) next.push(`the session report was not written: list the sessions active since ${params.compromisedSince} by hand`);
  if (deployCommand && (!progress.deploy || !progress.deploy.ok)) next.push(`fix and run the deploy command yourself: ${deployCommand}`);
  if (!r.previousRetired && r.overlapEnds) next.push(`after ${formatLocal(r.overlapEnds)}: ${finish}`);
  const sessions = progress.sessionsRevoked !== undefined ? `; ${progress.sessionsRevoked} session(s) revoked` : params.emergency ? "; sessions NOT revoked" : "";
  const deploy = progress.deploy ? `; the deploy command failed (exit ${progress.deploy.exitCode ?? progress.deploy.signal ?? "not started"})` : "";
  return { state: `${rotated}${sessions}${deploy}`, next };
}

/** The operation's own report, for `dropkeys apply` (see OperationModule). */
export function render(ctx: Context, outcome: OperationResult<RotateJwtResult>, _spec: unknown, input: OperationInput): void {
  renderRotateJwt(ctx, outcome, { name: input.name, params: { emergency: input.params.emergency === true }, incident: input.incident });
}
