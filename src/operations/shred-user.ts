// `shred-user`: crypto-shredding for GDPR Art. 17 (POLICY.md §6) as an approvable operation.
// The request lists the exact user ids the approvers sign; the engine is src/lib/shred/engine.ts.
import type { Context } from "../lib/context.js";
import { databaseUrl, redactUrl, withDatabase, type Database } from "../lib/db/index.js";
import { ExitCode, usageError } from "../lib/errors.js";
import { requireReason } from "../lib/keys/common.js";
import type { OperationResult, OperationSpec } from "./pipeline.js";
import { databaseSection } from "../lib/policy/database-section.js";
import { classifyUsers, normaliseUserIds, OPERATION, shredUsers, verificationOf, type ShredSummary, type UserState } from "../lib/shred/engine.js";
import { interruptSignal } from "../lib/shred/signals.js";
import type { OperationInput } from "./input.js";
import { renderOperation, type RenderOptions } from "./render.js";
import { formatLocal } from "../lib/time.js";

export interface ShredSpec extends OperationSpec<ShredSummary> {
  /** Each user's state as the preflight found it (for the "nothing to do" report). */
  states?: Map<string, UserState>;
}

export function userIdsParam(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v.trim() !== "")) {
    throw usageError("shred-user needs at least one user id (arguments or --from-file FILE)", {
      code: "usage.user-ids",
      hint: "e.g. dropkeys shred-user 4711 --reason DSR-2026-0042, or --from-file erasures.txt (one id per line)",
    });
  }
  return value as string[];
}

export async function build(ctx: Context, input: OperationInput): Promise<ShredSpec> {
  const reason = requireReason(input, OPERATION);
  let userIds = userIdsParam(input.params.userIds);
  const section = databaseSection(ctx.policy);
  const url = databaseUrl(ctx.policy);
  const users = section.users;
  const column = `${users.table}.${section.layout === "combined" || !section.dek ? users.nationalId : section.dek.table ? `${section.dek.table}.${section.dek.column}` : section.dek.column}`;
  const withDb = <T>(fn: (db: Database) => Promise<T>) => withDatabase(url, fn);
  const preview = userIds.length <= 5 ? userIds.join(", ") : `${userIds.slice(0, 3).join(", ")} and ${userIds.length - 3} more`;

  const spec: ShredSpec = {
    operation: OPERATION,
    target: `${redactUrl(url)} ${users.table}.${users.nationalId}`,
    journalTarget: { name: `${users.table}.${users.nationalId}`, kind: "database", layout: section.layout },
    params: { name: users.table, userIds },
    reason,
    incident: input.incident,
    summary: `Crypto-shred the fødselsnummer of ${userIds.length} user(s) (${preview}): destroy their DEKs in ${column}; AML tables kept`,

    async preflight() {
      // "81" and "00081" are one user of an integer id column: the request lists each user once.
      userIds = await withDb((db) => normaliseUserIds(db, section, userIds));
      spec.params = { ...spec.params, userIds };
      const states = await withDb((db) => classifyUsers(db, section, userIds));
      spec.states = states;
      const count = (s: UserState) => [...states.values()].filter((v) => v === s).length;
      const live = count("live");
      const facts = [
        `database: ${redactUrl(url)}, layout ${section.layout}, DEK in ${column}`,
        `${userIds.length} user id(s): ${live} to erase, ${count("erased")} already erased, ${count("missing")} not found`,
        `kept (AML, 5 years): ${section.amlTables.map((t) => `${t.table}.${t.userColumn}`).join(", ") || "no AML tables configured"}`,
        section.legalHoldQuery ? "legal holds are checked per user at erasure time" : "no legal-hold query configured",
        `backups keep the old values for ${ctx.policy.backupRetentionDays} days (backupRetentionDays)`,
      ];
      const unfinished = ctx.journal().verify().openIntents.some((e) => e.operation === OPERATION && e.params?.chunk !== undefined);
      if (live === 0 && !unfinished) {
        return { facts, noop: count("missing") === 0 ? "Already erased: nothing to do." : "Nothing to erase: every user is already erased or not found." };
      }
      return { facts };
    },

    async execute(request) {
      const actor = await ctx.identity();
      const progress = ctx.out.progress(`Erasing ${userIds.length} user(s)`);
      const interrupt = interruptSignal();
      try {
        const summary = await withDb((db) =>
          shredUsers(userIds, {
            db,
            section,
            journal: ctx.journal(),
            actor,
            requestId: request.id,
            reason: request.reason ?? reason,
            incident: request.incident ?? undefined,
            backupRetentionDays: ctx.policy.backupRetentionDays,
            chunkSize: section.shredBatchSize,
            signal: interrupt.signal,
            onProgress: (done, total) => progress.update(`Erasing: ${done}/${total} (${Math.round((100 * done) / total)}%)`),
          }),
        );
        progress.done(`Processed ${summary.erased.length + summary.alreadyErased.length + summary.held.length + summary.notFound.length + summary.failed.length} of ${userIds.length} user(s)`);
        return summary;
      } catch (error) {
        progress.fail("Erasure stopped");
        throw error;
      } finally {
        interrupt.dispose();
      }
    },

    async verify(summary) {
      return verificationOf(summary, section);
    },

    async onFailure() {
      return {
        state: "every user is either fully erased (its chunk committed and is journalled) or untouched",
        next: ["run the same shred-user command again: it journals what an interrupted chunk did and erases the rest"],
      };
    },

    outcomeDetails(summary) {
      return {
        total: summary.total,
        erased: summary.erased.length,
        alreadyErased: summary.alreadyErased.length,
        held: summary.held,
        notFound: summary.notFound,
        failed: summary.failed,
        chunks: summary.chunks,
        reconciledChunks: summary.reconciled,
        interrupted: summary.interrupted,
        backupsHoldUntil: summary.backupsHoldUntil,
        backupRetentionDays: ctx.policy.backupRetentionDays,
        durationMs: summary.durationMs,
      };
    },
  };
  return spec;
}

/** How `dropkeys apply` can render this operation's result (summary, exit code) like the command does. */
export async function render(ctx: Context, outcome: OperationResult<ShredSummary>, spec: ShredSpec): Promise<void> {
  renderShred(ctx, spec, outcome);
}

const MAX_LISTED = 20;

/** The summary of a run (also used by `dropkeys apply` when it renders per operation), and the exit code. */
export function renderShred(ctx: Context, spec: ShredSpec, outcome: OperationResult<ShredSummary>): void {
  if (outcome.status === "noop") {
    const missing = [...(spec.states ?? new Map()).entries()].filter(([, s]) => s === "missing").map(([id]) => id);
    const erased = [...(spec.states ?? new Map()).entries()].filter(([, s]) => s === "erased").map(([id]) => id);
    const c = ctx.out.color;
    ctx.out.result({ status: "noop", message: outcome.preflight.noop, facts: outcome.preflight.facts, alreadyErased: erased, notFound: missing }, () =>
      [
        c.green(outcome.preflight.noop ?? "Nothing to do."),
        ...erased.slice(0, MAX_LISTED).map((id) => `  ${id}: already erased`),
        ...missing.slice(0, MAX_LISTED).map((id) => c.red(`  ${id}: not found`)),
      ].join("\n"),
    );
    if (missing.length > 0) process.exitCode = ExitCode.failed;
    return;
  }
  renderOperation(ctx, outcome, shredRenderOptions(ctx));
  const s = outcome.result;
  if (!s) return;
  if (s.interrupted) process.exitCode = ExitCode.interrupted;
  else if (s.failed.length || s.held.length || s.notFound.length) process.exitCode = ExitCode.failed;
}

export function shredRenderOptions(ctx: Context): RenderOptions<ShredSummary> {
  const c = ctx.out.color;
  return {
    command: "dropkeys shred-user",
    done: (s) => {
      const lines = [
        (s.failed.length || s.held.length || s.notFound.length ? c.yellow : c.green)(
          `Crypto-shredding: ${s.erased.length} erased, ${s.alreadyErased.length} already erased, ${s.held.length} held, ${s.notFound.length} not found, ${s.failed.length} failed (of ${s.total}, ${rate(s)})`,
        ),
      ];
      if (s.total <= MAX_LISTED) {
        for (const id of s.erased) lines.push(`  ${id}: erased (DEK destroyed, AML rows kept)`);
        for (const id of s.alreadyErased) lines.push(`  ${id}: already erased`);
      }
      for (const h of s.held.slice(0, MAX_LISTED)) lines.push(c.yellow(`  ${h.id}: held, not erased: ${h.reason}`));
      for (const id of s.notFound.slice(0, MAX_LISTED)) lines.push(c.red(`  ${id}: not found`));
      for (const f of s.failed.slice(0, MAX_LISTED)) lines.push(c.red(`  ${f.id}: failed: ${f.error}`));
      const more = Math.max(0, s.held.length - MAX_LISTED) + Math.max(0, s.notFound.length - MAX_LISTED) + Math.max(0, s.failed.length - MAX_LISTED);
      if (more) lines.push(`  ... ${more} more in the journal and in --json`);
      if (s.reconciled) lines.push(`  Journalled the outcome of ${s.reconciled} chunk(s) of an earlier, interrupted run.`);
      if (s.interrupted) lines.push(c.yellow("  Interrupted: the users not listed above are untouched; run the command again to finish."));
      if (s.erased.length) {
        lines.push(`  Database backups made before now still hold the old values until ${formatLocal(new Date(s.backupsHoldUntil))} (backup retention).`);
      }
      return lines;
    },
    json: (s) => ({
      summary: {
        total: s.total,
        erased: s.erased,
        alreadyErased: s.alreadyErased,
        held: s.held,
        notFound: s.notFound,
        failed: s.failed,
        interrupted: s.interrupted,
        backupsHoldUntil: s.backupsHoldUntil,
        durationMs: s.durationMs,
      },
    }),
    next: (s) => [
      ...(s.held.length ? ["Held users: tell the requester the erasure is postponed by a legal hold (GDPR Art. 17(3)(e)); rerun when the hold is released"] : []),
      ...(s.failed.length || s.interrupted ? ["Rerun the same command: erased users are skipped, the rest is erased"] : []),
      ...(s.erased.length ? [`Confirm the erasure to the requester; note that backups expire by ${s.backupsHoldUntil.slice(0, 10)}`] : []),
    ],
  };
}

function rate(s: ShredSummary): string {
  const seconds = Math.max(s.durationMs, 1) / 1000;
  return `${s.durationMs} ms, ${Math.round(s.total / seconds)} users/s`;
}
