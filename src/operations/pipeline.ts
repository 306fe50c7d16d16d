// The operation pipeline of DESIGN.md, the one path every mutating command takes:
// preflight -> request -> approvals -> journal intent (fail-closed) -> AWS -> verify ->
// journal outcome -> result. Commands describe an operation (an OperationSpec); this runs it.
import { collectApprovals, type CollectedApprovals } from "../lib/approvals/index.js";
import { createRequest, readRequestFile, requestBytes, writeRequestFile, type OperationRequest } from "../lib/approvals/request.js";
import { checkRegistry, journalId, lastSeal } from "../lib/journal/approver-registry.js";
import { canonicalJson } from "../lib/canonical.js";
import type { OperationOptions } from "../lib/cli-options.js";
import type { Context } from "../lib/context.js";
import { approvalError, DropkeysError, ExitCode, failure, isDropkeysError, journalError } from "../lib/errors.js";
import type { Actor, Journal, JournalEntry, JournalVerification } from "../lib/journal/journal.js";
import { checkPinnedJournal, mirrorFor, type JournalMirror } from "../lib/journal/mirror.js";
import { refuseInjectedNodeOptions } from "../lib/node-options.js";
import type { ApprovalRule } from "../lib/policy/schema.js";
import { approvalRule } from "../lib/policy/approval-rule.js";

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


export async function runOperation<R>(ctx: Context, spec: OperationSpec<R>, flags: PipelineFlags): Promise<OperationResult<R>> {
  const journal = ctx.journal();
  const ruleName = spec.rule ?? spec.operation;
  const rule = approvalRule(ctx, ruleName);

  const mutating = !flags.dryRun && !flags.requestOut;
  if (mutating) refuseInjectedNodeOptions();
  const before = journal.entries();
  checkRegistry(ctx.policy, before);
  checkPinnedJournal(ctx.policy.journal?.id, before);
  // What the request is bound to: the seal in force (for a seal, the previous one) and this journal.
  const binding = { policy: lastSeal(before)?.digest ?? null, journal: journalId(before), rule: ruleName };
  // A journal behind or diverged from its write-once mirror stops everything (exit 5).
  const mirror = mutating ? mirrorFor(ctx) : undefined;
  let mirroredUpTo = before[before.length - 1]?.seq ?? 0;
  if (mirror) {
    const reconcile = (entries: JournalEntry[]) => mirror.reconcile(entries).then(() => (mirroredUpTo = entries[entries.length - 1]?.seq ?? 0));
    await reconcile(before)
      // Another process may have appended (and mirrored) since `before` was read: look once more.
      .catch(async (error: unknown) => {
        const now = journal.entries();
        if (now.length === before.length) throw error;
        await reconcile(now);
      })
      .catch((error: unknown) => {
        // An unreachable mirror does not hold up an emergency disable; a disagreeing one does.
        if (spec.operation !== "disable" || !isDropkeysError(error) || error.code !== "journal.mirror-unavailable") throw error;
        ctx.out.warn(`WARNING: the journal mirror cannot be read (${error.message}); the emergency disable goes on without it.`);
      });
  }
  // A broken journal is noticed before anyone is asked to approve anything. After the mirror
  // check: a journal that disagrees with its mirror gets no repair entry of its own first.
  if (!flags.dryRun) journal.checkWritable();
  // Every intent gets an outcome: runs that died before theirs are closed first.
  if (mutating) {
    const { closeInterruptedRuns } = await import("./readback.js");
    await closeInterruptedRuns(ctx);
  }

  const preflight = await spec.preflight();
  for (const warning of preflight.warnings ?? []) ctx.out.warn(warning);
  if (preflight.noop !== undefined) return { status: "noop", preflight };

  const actor = await ctx.identity();
  const request = flags.requestFile
    ? checkBinding(matchRequestFile(readRequestFile(flags.requestFile), spec), binding)
    : createRequest({
        ...binding,
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
    // The rule as signed: `log verify --approvals` checks the approvals against it as sealed then.
    details: { rule: request.rule },
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
  // Everything after what the mirror was known to hold: the intent, and what came before it in
  // this run (dead runs closed, a repair).
  await mirrorAppended(ctx, mirror, journal, spec, mirroredUpTo, {
    onFailure: (error) =>
      journal.append({
        ...outcomeBase(),
        outcome: "failed",
        error: errorSummary(error),
        state: "nothing was done: the intent could not be written to the journal mirror",
      }),
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
      // Best effort: the failure is what the person must see; the next command mirrors what is left.
      await mirror?.push(journal.entries(), intent.seq).catch(() => undefined);
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
    await mirrorAppended(ctx, mirror, journal, spec, intent.seq, { done: true });
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

/** A request runs only under the seal, in the journal and by the rule it was approved for. */
function checkBinding(request: OperationRequest, expected: Pick<OperationRequest, "policy" | "journal" | "rule">): OperationRequest {
  const short = (v: string | null) => (v ? `${v.slice(0, 16)}…` : "none");
  const wrong: string[] = [];
  if (request.rule !== expected.rule) {
    wrong.push(`it was approved under rule "${request.rule}", but this run would need rule "${expected.rule}" (no flag changes the rule of a signed request)`);
  }
  if (request.policy !== expected.policy) {
    wrong.push(`it was made under policy seal ${short(request.policy)}, but the seal in force is ${short(expected.policy)}`);
  }
  if (request.journal !== expected.journal) {
    wrong.push(`it was made for journal ${short(request.journal)}, but this journal is ${short(expected.journal)}`);
  }
  if (wrong.length > 0) {
    throw approvalError(`request ${request.id} is not valid here: ${wrong.join("; ")}`, {
      code: "approval.request-binding",
      hint: "A signed request runs only under the policy seal and in the journal it was made for: write a new request here and have it signed.",
      details: { requestId: request.id, request: { policy: request.policy, journal: request.journal, rule: request.rule }, expected },
    });
  }
  return request;
}

/**
 * Write this run's new journal entries to the mirror. A failure is a journal failure (exit 5),
 * except for an emergency disable, which goes on with a loud warning and an entry saying so
 * (the next command writes what is missing first). After the AWS call (`done`), the change is
 * made: the failure is still exit 5, saying so.
 */
async function mirrorAppended(
  ctx: Context,
  mirror: JournalMirror | undefined,
  journal: Journal,
  spec: OperationSpec<unknown>,
  afterSeq: number,
  options: { done?: boolean; onFailure?: (error: unknown) => void },
): Promise<void> {
  if (!mirror) return;
  try {
    await mirror.push(journal.entries(), afterSeq);
  } catch (error) {
    if (spec.operation === "disable") {
      ctx.out.warn(
        `WARNING: the journal mirror ${mirror.url} could not be written (${errorSummary(error).message}). The emergency disable goes on; the next dropkeys command writes the missing entries first.`,
      );
      journal.append({
        type: "event",
        operation: "journal-mirror",
        target: spec.journalTarget,
        actor: await ctx.identity(),
        reason: "emergency disable went on without the journal mirror",
        error: errorSummary(error),
        details: { notMirroredAfter: afterSeq, mirror: mirror.url },
      });
      return;
    }
    options.onFailure?.(error);
    if (!options.done) throw error;
    throw journalError(`${spec.operation} was carried out, but its outcome could not be written to the journal mirror: ${errorSummary(error).message}`, {
      code: "journal.mirror-unavailable",
      hint: "The local journal records it; the next dropkeys command writes the missing entries to the mirror first.",
      cause: error,
    });
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
    // A journal (or journal mirror) failure stops before the AWS call, whatever its cause.
    if (isDropkeysError(e) && e.kind === "journal") return false;
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
