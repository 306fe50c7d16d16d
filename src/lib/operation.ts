// The operation pipeline of DESIGN.md, the one path every mutating command takes:
// preflight -> request -> approvals -> journal intent (fail-closed) -> AWS -> verify ->
// journal outcome -> result. Commands describe an operation (an OperationSpec); this runs it.
import { collectApprovals, type CollectedApprovals } from "./approvals/index.js";
import { createRequest, readRequestFile, requestBytes, writeRequestFile, type OperationRequest } from "./approvals/request.js";
import { checkRegistry } from "./approvals/registry-journal.js";
import { canonicalJson } from "./canonical.js";
import type { OperationOptions } from "./cli-options.js";
import type { Context } from "./context.js";
import { approvalError, DropkeysError, ExitCode, failure, isDropkeysError, usageError } from "./errors.js";
import type { Actor, JournalEntry, JournalVerification } from "./journal/journal.js";
import type { ApprovalRule } from "./policy/schema.js";

export interface Preflight {
  /** Facts a person should see before approving ("key is Enabled, last used ..."). */
  facts: string[];
  /** Set when there is nothing to do (already disabled...): the command says so and exits 0. */
  noop?: string;
  warnings?: string[];
}

export interface FailureReport {
  /** The state AWS was left in, in plain words. */
  state: string;
  /** What to run next. */
  next: string[];
}

export interface OperationSpec<R> {
  /** Journal operation name, and the default approval rule. */
  operation: string;
  /** Approval rule in the policy's `approvals` (default: `operation`). */
  rule?: string;
  /** What the request is about: a resolved ARN, or a descriptor when nothing exists yet. */
  target: string;
  /** The journal's target fields (name, arn, region, kind). */
  journalTarget: JournalEntry["target"];
  /** Everything that determines what happens; approvals sign these. Never secret values. */
  params: Record<string, unknown>;
  reason?: string | undefined;
  incident?: string | undefined;
  /** One line for the approver: what, on which key, in which region. */
  summary: string;
  preflight(): Promise<Preflight>;
  /** The approved request is passed in: its id is stable across reruns (idempotency tokens). */
  execute(request: OperationRequest): Promise<R>;
  verify?(result: R, request: OperationRequest): Promise<JournalVerification>;
  /** After a failure of execute(): what state things are in and what to run next. */
  onFailure?(error: unknown): Promise<FailureReport>;
  /**
   * The operation completes or rolls back whatever state a crashed run of the same request left
   * (rotate-jwt): then a request whose intent has no outcome may run again; a request that
   * reached an outcome never does.
   */
  resumable?: boolean;
  /** Extra journal details of a success (counts, dates); never secret values. */
  outcomeDetails?(result: R): Record<string, unknown>;
}

export interface PipelineFlags {
  dryRun?: boolean;
  requestOut?: string | undefined;
  requestFile?: string | undefined;
  approvalFiles?: string[];
}

/** A mutating command's flags as the pipeline takes them. */
export function pipelineFlags(options: OperationOptions): PipelineFlags {
  return { dryRun: options.dryRun, requestOut: options.requestOut, requestFile: options.request, approvalFiles: options.approval };
}

export type OperationStatus = "done" | "noop" | "dry-run" | "requested";

export interface OperationResult<R> {
  status: OperationStatus;
  request?: OperationRequest;
  preflight: Preflight;
  approvals?: CollectedApprovals;
  rule?: ApprovalRule;
  result?: R;
  verification?: JournalVerification;
  intent?: JournalEntry;
  outcome?: JournalEntry;
  requestFile?: string;
}

export function approvalRule(ctx: Context, name: string): ApprovalRule {
  const rule = ctx.policy.approvals[name];
  if (!rule) {
    throw usageError(`the policy has no approval rule "${name}"`, {
      code: "policy.rule-missing",
      hint: `Add approvals.${name} to the policy file (see the bundled policy for the defaults).`,
    });
  }
  return rule;
}

export async function runOperation<R>(ctx: Context, spec: OperationSpec<R>, flags: PipelineFlags): Promise<OperationResult<R>> {
  const journal = ctx.journal();
  const ruleName = spec.rule ?? spec.operation;
  const rule = approvalRule(ctx, ruleName);

  // A broken journal is noticed before anyone is asked to approve anything.
  if (!flags.dryRun) journal.checkWritable();
  checkRegistry(ctx.policy, journal.entries());
  // Every intent gets an outcome: runs that died before theirs are closed first.
  if (!flags.dryRun && !flags.requestOut) {
    const { closeInterruptedRuns } = await import("./ops/readback.js");
    await closeInterruptedRuns(ctx);
  }

  const preflight = await spec.preflight();
  for (const warning of preflight.warnings ?? []) ctx.out.warn(warning);
  if (preflight.noop !== undefined) return { status: "noop", preflight };

  const actor = await ctx.identity();
  const request = flags.requestFile
    ? matchRequestFile(readRequestFile(flags.requestFile), spec)
    : createRequest({
        operation: spec.operation,
        target: spec.target,
        params: spec.params,
        reason: spec.reason,
        incident: spec.incident,
        requestedBy: actorName(actor),
        lifetimeMs: rule.requestLifetime ?? ctx.policy.requestLifetime,
      });

  if (flags.requestOut) {
    writeRequestFile(flags.requestOut, request);
    return { status: "requested", preflight, request, rule, requestFile: flags.requestOut };
  }
  if (flags.dryRun) return { status: "dry-run", preflight, request, rule };

  const approvals = await collectApprovals({
    policy: ctx.policy,
    rule,
    ruleName,
    request,
    requestBytes: requestBytes(request),
    approvalFiles: flags.approvalFiles ?? [],
    interactive: ctx.interactive,
    isRequestIdUsed: (id) => journal.hasRequestId(id) && !(spec.resumable && journal.isInterruptedRequest(id)),
    aws: ctx.aws,
    out: ctx.out,
    summary: spec.summary,
  });

  const intent = journal.append({
    type: "intent",
    operation: spec.operation,
    requestId: request.id,
    target: spec.journalTarget,
    actor,
    reason: request.reason ?? undefined,
    incident: request.incident ?? undefined,
    approvals: approvals.journal,
    exception: approvals.exception,
    params: spec.params,
  });

  // A function: execute() may complete the target (generate adds the ARN it created).
  const outcomeBase = () => ({
    type: "outcome" as const,
    operation: spec.operation,
    requestId: request.id,
    intentSeq: intent.seq,
    target: spec.journalTarget,
    actor,
    // Repeated from the intent, so each rendered block of internkontroll.md is complete (POLICY.md §6).
    reason: request.reason ?? undefined,
    incident: request.incident ?? undefined,
  });
  // From here AWS may change: a Ctrl-C waits for the call in flight and the outcome entry; a
  // second one journals the outcome `interrupted` and exits at once.
  const interrupt = deferInterrupts(ctx, () =>
    journal.append({ ...outcomeBase(), outcome: "interrupted", state: "abandoned by a second Ctrl-C while the call was in flight; its effect is unknown", next: ["dropkeys status", "run the same command again"] }),
  );
  try {
    let result: R;
    try {
      result = await spec.execute(request);
    } catch (error) {
      const report = spec.onFailure ? await spec.onFailure(error).catch(() => undefined) : undefined;
      const timedOut = isTimeout(error);
      journal.append({
        ...outcomeBase(),
        // A call that did not return may or may not have been carried out.
        outcome: timedOut ? "unknown" : "failed",
        error: timedOut ? { code: "aws.timeout", message: `unknown: the call did not return (${errorSummary(error).message})` } : errorSummary(error),
        state: report?.state,
        next: report?.next,
      });
      throw withReport(timedOut ? timeoutFailure(error) : error, report);
    }
    const verification = spec.verify ? await spec.verify(result, request) : undefined;
    const verified = !verification || verification.result === "passed" || verification.result === "skipped";
    const details = spec.outcomeDetails?.(result);
    // A run stopped by Ctrl-C or SIGTERM says so in its outcome, not only in its details.
    const stopped = details?.interrupted === true;
    const outcome = journal.append({
      ...outcomeBase(),
      outcome: stopped ? "interrupted" : verified ? "succeeded" : "failed",
      verification,
      details,
    });
    if (!verified) {
      throw failure(`${spec.operation} was carried out, but its verification failed: ${verification?.detail ?? verification?.result}`, {
        code: "verification.failed",
        hint: "The journal records the result; check the key's state with `dropkeys status` before going on.",
        details: { verification },
      });
    }
    return { status: "done", preflight, request, approvals, rule, result, verification, intent, outcome };
  } finally {
    interrupt.restore();
  }
}

/** --request FILE must be the same operation this command describes; approvals signed that file. */
function matchRequestFile(request: OperationRequest, spec: OperationSpec<unknown>): OperationRequest {
  const mismatch: string[] = [];
  if (request.operation !== spec.operation) mismatch.push(`operation ${request.operation}, not ${spec.operation}`);
  if (request.target !== spec.target) mismatch.push(`target ${request.target}, not ${spec.target}`);
  if (canonicalJson(request.params) !== canonicalJson(spec.params)) mismatch.push("different parameters");
  if (spec.reason !== undefined && spec.reason !== request.reason) mismatch.push("a different reason");
  if (mismatch.length > 0) {
    throw approvalError(`the request file is not for this operation: it has ${mismatch.join(", ")}`, {
      code: "approval.request-mismatch",
      hint: "Run exactly the request the approvers signed: `dropkeys apply REQUEST --approval SIG ...`.",
    });
  }
  return request;
}

export function actorName(actor: Actor): string {
  return `${actor.aws} (${actor.osUser}@${actor.host})`;
}

function errorSummary(error: unknown): { code: string; message: string } {
  if (isDropkeysError(error)) return { code: error.code, message: error.message };
  const name = error instanceof Error ? error.name : "Error";
  return { code: name, message: error instanceof Error ? error.message : String(error) };
}

/** The failure, with the state AWS is in and the next command, for the person at the terminal. */
function withReport(error: unknown, report: FailureReport | undefined): DropkeysError {
  const base = isDropkeysError(error) ? error : failure(`the AWS call failed: ${errorSummary(error).message}`, { cause: error });
  if (!report) return base;
  return new DropkeysError(base.kind, `${base.message}\nState now: ${report.state}`, {
    code: base.code,
    hint: report.next.length ? `Next: ${report.next.join("; then ")}` : base.hint,
    details: { ...base.details, state: report.state, next: report.next },
    cause: error,
  });
}

/** Whether a failure is an AWS call that did not return in time (the SDK's TimeoutError, anywhere in the causes). */
export function isTimeout(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: unknown }).name;
    const code = (e as { code?: unknown }).code;
    if (name === "TimeoutError" || code === "ETIMEDOUT" || code === "aws.timeout") return true;
  }
  return false;
}

function timeoutFailure(error: unknown): DropkeysError {
  return failure(`unknown: the call did not return in time (${errorSummary(error).message})`, { code: "aws.timeout", cause: error });
}

/**
 * While AWS is being changed, Ctrl-C and SIGTERM are noted, not obeyed at once: the call in flight
 * finishes and its outcome is journalled. A second one journals the outcome `interrupted` through
 * `abandon` and exits at once.
 */
function deferInterrupts(ctx: Context, abandon: () => unknown): { restore(): void } {
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) {
      try {
        abandon();
      } finally {
        process.exit(ExitCode.interrupted);
      }
    }
    interrupted = true;
    ctx.out.warn("interrupt: finishing the AWS call in flight and journalling its outcome (Ctrl-C again to abandon)");
  };
  const previous = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    restore() {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.removeListener(signal, onSignal);
        for (const listener of previous[signal]) process.on(signal, listener as () => void);
      }
      if (interrupted) process.exitCode = ExitCode.interrupted;
    },
  };
}
