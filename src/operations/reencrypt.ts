// `reencrypt`: after a compromise, re-wrap every envelope DEK from the old KEK to the new one
// (POLICY.md §4, §5 step 5), L4 tables first. Preflight finds a disabled source key (KMS cannot
// ReEncrypt from it); --reenable-source enables it for the run only (with the approvals `enable`
// needs as well) and disables it again whatever happens. The engine is src/lib/reencrypt/engine.ts.
import { setMaxListeners } from "node:events";
import { mirrorNow } from "../lib/journal/mirror.js";
import { DescribeKeyCommand, type KeyMetadata } from "@aws-sdk/client-kms";
import type { Context } from "../lib/context.js";
import { databaseUrl, redactUrl, withDatabase, type Database } from "../lib/db/index.js";
import { resolveWrappedDekBytes } from "../lib/envelope/index.js";
import { awsErrorName, DropkeysError, ExitCode, failure, usageError } from "../lib/errors.js";
import { requireReason } from "../lib/keys/common.js";
import type { OperationResult, OperationSpec } from "./pipeline.js";
import { databaseSection, reencryptTables } from "../lib/policy/database-section.js";
import { findEntry, regionOf } from "../lib/policy/load.js";
import { reencrypt, totals, verifySample, type KeyRef, type ReencryptResult } from "../lib/reencrypt/engine.js";
import { combinedRule } from "../lib/reencrypt/rules.js";
import { sourceKeysLeftEnabled, withSourceEnabled, type SourceKeySteps } from "../lib/reencrypt/source-key.js";
import { interruptSignal } from "../lib/shred/signals.js";
import { awsFailure } from "../lib/targets.js";
import type { OperationInput } from "./input.js";
import { table as textTable } from "../lib/output.js";
import { renderOperation, type RenderOptions } from "./render.js";
import { formatLocal } from "../lib/time.js";
import { formatDuration } from "../lib/duration.js";

export const OPERATION = "reencrypt";

export interface ReencryptRun extends ReencryptResult {
  wrappedDekBytes: number;
  concurrency: number;
  source: SourceKeySteps & { reenabled: boolean };
}

interface ResolvedKey extends KeyRef {
  name: string;
  region: string;
  metadata: KeyMetadata;
}

/** KEY as given: an inventory name (alias/NAME), alias/..., a key ARN or a bare key id. */
function keyIdAndRegion(ctx: Context, key: string): { id: string; region: string; name: string } {
  const entry = findEntry(ctx.policy, key);
  if (entry && entry.kind === "kms-key") return { id: `alias/${entry.name}`, region: regionOf(ctx.policy, entry), name: entry.name };
  const arn = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\/(.+)$/.exec(key);
  if (arn) return { id: key, region: arn[1]!, name: key };
  const envelopeKey = findEntry(ctx.policy, ctx.policy.envelope.key);
  const region = ctx.options.region ?? (envelopeKey ? regionOf(ctx.policy, envelopeKey) : ctx.defaultRegion);
  return { id: key, region, name: key };
}

async function resolveKey(ctx: Context, key: string, flag: string): Promise<ResolvedKey> {
  const { id, region, name } = keyIdAndRegion(ctx, key);
  try {
    const out = await ctx.aws.kms(region).send(new DescribeKeyCommand({ KeyId: id }));
    const m = out.KeyMetadata!;
    return { keyId: m.KeyId!, arn: m.Arn!, name, region, metadata: m };
  } catch (error) {
    if (awsErrorName(error) === "NotFoundException") {
      throw usageError(`${flag} ${key}: no such KMS key in ${region}`, { code: "target.not-found", hint: "Give an inventory name, alias/NAME, a key id or a key ARN." });
    }
    throw awsFailure(error, `DescribeKey ${id} in ${region}`);
  }
}

function concurrencyParam(value: unknown): number {
  const n = value === undefined ? 8 : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw usageError(`--concurrency ${String(value)}: expected a whole number from 1 to 64`, { code: "usage.concurrency" });
  return n;
}

export async function build(ctx: Context, input: OperationInput): Promise<OperationSpec<ReencryptRun>> {
  const reason = requireReason(input, OPERATION);
  const fromName = String(input.params.from ?? input.name ?? "");
  const toName = String(input.params.to ?? "");
  if (!fromName || !toName) throw usageError("reencrypt needs --from KEY and --to KEY", { code: "usage.keys" });
  const concurrency = concurrencyParam(input.params.concurrency);
  const reenableSource = input.params.reenableSource === true;
  const section = databaseSection(ctx.policy);
  const url = databaseUrl(ctx.policy);
  const tables = reencryptTables(section);
  const from = await resolveKey(ctx, fromName, "--from");
  const to = await resolveKey(ctx, toName, "--to");
  if (from.keyId === to.keyId) {
    throw usageError(`--from and --to are the same key (${from.keyId})`, {
      code: "usage.same-key",
      hint: "After `generate --move-alias` the alias names the new key: give the old key by its key id (the generate output and the journal name it).",
    });
  }
  if (from.region !== to.region) {
    throw usageError(`--from is in ${from.region} and --to in ${to.region}: ReEncrypt works within one region`, { code: "usage.region" });
  }
  const kms = ctx.aws.kms(from.region);
  const base = input.incident ? "reencrypt-emergency" : "reencrypt";
  const rule = reenableSource ? combinedRule(ctx, base, "enable") : base;
  const withDb = <T>(fn: (db: Database) => Promise<T>) => withDatabase(url, fn);
  const journalTarget = { name: from.name, arn: from.arn, keyId: from.keyId, region: from.region, kind: "kms-key", newKeyArn: to.arn };

  return {
    operation: OPERATION,
    rule,
    target: `${from.arn} -> ${to.arn}`,
    journalTarget,
    params: { name: fromName, from: fromName, to: toName, concurrency, reenableSource },
    reason,
    incident: input.incident,
    summary: `Re-encrypt every envelope DEK from ${from.name} (${from.keyId}) to ${to.name} (${to.keyId}) in ${from.region}, L4 first${reenableSource ? ", enabling the source key for the run only" : ""}`,

    async preflight() {
      const facts: string[] = [];
      const warnings: string[] = [];
      const fromNow = (await kms.send(new DescribeKeyCommand({ KeyId: from.keyId }))).KeyMetadata!;
      const toNow = (await kms.send(new DescribeKeyCommand({ KeyId: to.keyId }))).KeyMetadata!;
      const label = (k: ResolvedKey) => (k.name === k.keyId ? k.keyId : `${k.name} ${k.keyId}`);
      facts.push(`from: ${label(from)} (${fromNow.KeyState})`, `to: ${label(to)} (${toNow.KeyState})`);
      if (toNow.KeyState !== "Enabled" || toNow.KeyUsage !== "ENCRYPT_DECRYPT" || toNow.KeySpec !== "SYMMETRIC_DEFAULT") {
        throw failure(`the new key ${to.name} (${to.keyId}) is ${toNow.KeyState} ${toNow.KeySpec}/${toNow.KeyUsage}: it must be an Enabled symmetric ENCRYPT_DECRYPT key`, {
          code: "reencrypt.destination",
        });
      }
      if (fromNow.KeyState === "PendingDeletion") {
        throw failure(`the source key ${from.name} (${from.keyId}) is pending deletion: KMS cannot re-encrypt from it`, {
          code: "reencrypt.source-pending-deletion",
          hint: `Cancel the deletion first (dropkeys cancel-deletion; KMS leaves the key Disabled), then rerun with --reenable-source.`,
        });
      }
      if (fromNow.KeyState === "Disabled" && !reenableSource) {
        throw failure(`the source key ${from.name} (${from.keyId}) is Disabled: KMS cannot ReEncrypt from a disabled key`, {
          code: "reencrypt.source-disabled",
          hint: "Rerun with --reenable-source: the key is enabled for the re-encryption only and disabled again afterwards (needs the approvals of `enable` as well).",
        });
      }
      const inherited = reenableSource && fromNow.KeyState === "Enabled" ? leftEnabledByUs(ctx, from.keyId) : undefined;
      if (fromNow.KeyState === "Disabled") facts.push(`the source key is Disabled: it will be enabled for the re-encryption only, and disabled again afterwards (also on failure or Ctrl-C)`);
      else if (inherited) facts.push(`the source key was enabled by an interrupted reencrypt --reenable-source at ${inherited.since}: this run disables it again at the end`);
      else if (reenableSource) warnings.push(`--reenable-source: ${from.name} is already ${fromNow.KeyState}; it is left as it is`);
      for (const left of sourceKeysLeftEnabled(ctx.journal().entries())) {
        warnings.push(`source key ${left.keyId} was enabled by reencrypt --reenable-source at ${left.since} and never disabled again (interrupted run)`);
      }
      let rows = 0;
      await withDb(async (db) => {
        for (const t of tables) {
          const [row] = await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${t.table} WHERE ${t.column} IS NOT NULL`);
          rows += Number(row?.n ?? 0);
          facts.push(`${t.classification} ${t.table}.${t.column} (${t.format}): ${Number(row?.n ?? 0)} value(s)`);
        }
      });
      facts.push(`database: ${redactUrl(url)}; concurrency ${concurrency}`);
      if (rows === 0) return { facts, warnings, noop: "No envelopes in the configured tables: nothing to re-encrypt." };
      return { facts, warnings };
    },

    async execute(request) {
      const actor = await ctx.identity();
      const wrappedDekBytes = await resolveWrappedDekBytes(ctx.policy.envelope.wrappedDekBytes, kms, to.arn);
      const progress = ctx.out.progress("Re-encrypting");
      const interrupt = interruptSignal();
      // Stops the workers: Ctrl-C / SIGTERM, or the source key's enabled time running out.
      const stop = new AbortController();
      // Every KMS call in flight (and its backoff) listens to it, so more than Node's default 10
      // listeners is normal here, not a leak: no warning on stderr.
      setMaxListeners(0, stop.signal);
      interrupt.signal.addEventListener("abort", () => stop.abort(), { once: true });
      const source: ReencryptRun["source"] = { reenabled: false };
      let last = 0;
      const run = () =>
        withDb((db) =>
          reencrypt({
            db,
            tables,
            kms,
            from,
            to,
            wrappedDekBytes,
            concurrency,
            signal: stop.signal,
            onProgress: (p) => {
              if (Date.now() - last < 100) return;
              last = Date.now();
              progress.update(`Re-encrypting ${p.table}: ${p.scanned}/${p.total} (${p.rewrapped} rewrapped)`);
            },
          }),
        );
      try {
        const fromState = (await kms.send(new DescribeKeyCommand({ KeyId: from.keyId }))).KeyMetadata!.KeyState;
        let result: ReencryptResult;
        // A key an interrupted run of ours left Enabled is ours to disable again at the end.
        const inherited = reenableSource && fromState === "Enabled" ? leftEnabledByUs(ctx, from.keyId) : undefined;
        if (reenableSource && (fromState === "Disabled" || inherited)) {
          source.reenabled = true;
          if (inherited) source.inheritedFrom = inherited.requestId ?? "an interrupted run";
          result = await withSourceEnabled(
            { kms, key: from, journal: ctx.journal(), actor, requestId: request.id, reason: request.reason ?? reason, incident: request.incident ?? undefined, timeoutMs: ctx.policy.disableVerifyTimeout, mirror: () => mirrorNow(ctx) },
            source,
            run,
            { maxEnabledMs: ctx.policy.reenableMaxDuration, enabledSince: inherited ? new Date(inherited.since) : undefined, onExpire: () => stop.abort() },
          );
        } else {
          result = await run();
        }
        const t = totals(result);
        progress.done(`Re-encrypted ${t.rewrapped} of ${t.scanned} value(s)`);
        return { ...result, wrappedDekBytes, concurrency, source };
      } catch (error) {
        progress.fail("Re-encryption stopped");
        throw error instanceof DropkeysError ? error : failure(`re-encryption failed: ${(error as Error).message}`, { cause: error });
      } finally {
        interrupt.dispose();
      }
    },

    async verify(result) {
      const verification = await withDb((db) => verifySample({ db, tables, kms, to, wrappedDekBytes: result.wrappedDekBytes }, result.sample));
      if (result.source.reenabled) {
        const state = (await kms.send(new DescribeKeyCommand({ KeyId: from.keyId }))).KeyMetadata!.KeyState;
        verification.sourceKeyState = state;
        verification.detail = `${verification.detail}; source key ${from.keyId} is ${state} again`;
        if (state !== "Disabled") verification.result = "failed";
      }
      return verification;
    },

    async onFailure(error) {
      const partial = (error as DropkeysError)?.details?.partial as ReturnType<typeof totals> | undefined;
      return {
        state: `${partial ? `${partial.rewrapped} value(s) re-encrypted to ${to.keyId}; ` : ""}the rest is still under ${from.keyId}; every row is either fully rewrapped or untouched`,
        next: [`run the same reencrypt command again (it skips what is already under ${to.keyId})`],
      };
    },

    outcomeDetails(result) {
      const t = totals(result);
      return {
        from: from.arn,
        to: to.arn,
        ...t,
        tables: result.tables.map((x) => ({ ...x, corrupt: x.corrupt.slice(0, 50), failed: x.failed.slice(0, 50) })),
        durationMs: result.durationMs,
        perSecond: Math.round((t.rewrapped / Math.max(result.durationMs, 1)) * 1000),
        concurrency: result.concurrency,
        throttled: result.throttled,
        interrupted: result.interrupted,
        wrappedDekBytes: result.wrappedDekBytes,
        sourceReenabled: result.source,
      };
    },
  };
}

/** The journal's record of this key being enabled by a reencrypt run that never disabled it again. */
function leftEnabledByUs(ctx: Context, keyId: string): { since: string; requestId: string | undefined } | undefined {
  return sourceKeysLeftEnabled(ctx.journal().entries()).find((k) => k.keyId === keyId);
}

/** How `dropkeys apply` can render this operation's result (table, exit code) like the command does. */
export async function render(ctx: Context, outcome: OperationResult<ReencryptRun>): Promise<void> {
  renderReencrypt(ctx, outcome);
}

export function renderReencrypt(ctx: Context, outcome: OperationResult<ReencryptRun>): void {
  renderOperation(ctx, outcome, reencryptRenderOptions(ctx));
  const r = outcome.result;
  if (!r) return;
  const t = totals(r);
  if (r.source.stoppedAfterMs !== undefined) process.exitCode = ExitCode.failed;
  else if (r.interrupted) process.exitCode = ExitCode.interrupted;
  else if (t.corrupt || t.failed) process.exitCode = ExitCode.failed;
}

export function reencryptRenderOptions(ctx: Context): RenderOptions<ReencryptRun> {
  const c = ctx.out.color;
  return {
    command: "dropkeys reencrypt",
    done: (r) => {
      const t = totals(r);
      const lines = [
        (t.corrupt || t.failed || r.interrupted ? c.yellow : c.green)(
          `Re-encrypted ${t.rewrapped} value(s) in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round((t.rewrapped / Math.max(r.durationMs, 1)) * 1000)}/s, concurrency ${r.concurrency})`,
        ),
        textTable(
          ["class", "table.column", "rows", "rewrapped", "already new", "other key", "gone", "races", "corrupt", "failed"],
          r.tables.map((x) => [x.classification, `${x.table}.${x.column}`, String(x.scanned), String(x.rewrapped), String(x.alreadyNew), String(x.otherKey), String(x.gone), String(x.lostRaces), String(x.corrupt.length), String(x.failed.length)]),
        )
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n"),
      ];
      for (const x of r.tables) {
        for (const bad of x.corrupt.slice(0, 20)) lines.push(c.red(`  ${x.table} row ${JSON.stringify(bad.id)}: corrupt envelope: ${bad.problem} (left as it is)`));
        for (const bad of x.failed.slice(0, 20)) lines.push(c.red(`  ${x.table} row ${JSON.stringify(bad.id)}: ${bad.error}`));
      }
      if (r.throttled) lines.push(`  KMS throttled ${r.throttled} call(s); each was retried with backoff.`);
      if (r.source.reenabled && r.source.enabledAt && r.source.disabledAt) {
        lines.push(`  Source key enabled at ${formatLocal(new Date(r.source.enabledAt))} for the run and disabled again at ${formatLocal(new Date(r.source.disabledAt))}.`);
      }
      if (r.source.inheritedFrom) lines.push(`  The source key had been left Enabled by an interrupted run (${r.source.inheritedFrom}); this run disabled it again.`);
      if (r.source.stoppedAfterMs !== undefined) {
        lines.push(c.yellow(`  Stopped: the compromised source key may stay enabled at most ${formatDuration(ctx.policy.reenableMaxDuration)} (reenableMaxDuration); it is disabled again. Run the same command again to go on (what is done is skipped).`));
      } else if (r.interrupted) lines.push(c.yellow("  Interrupted: run the same command again to finish (what is done is skipped)."));
      return lines;
    },
    json: (r) => ({ result: { ...totals(r), tables: r.tables, durationMs: r.durationMs, concurrency: r.concurrency, throttled: r.throttled, interrupted: r.interrupted, source: r.source } }),
    next: (r) => {
      const t = totals(r);
      return [
        ...(t.corrupt ? ["Corrupt envelopes: check with the application team how these rows were written; they stay under the old key"] : []),
        ...(t.failed || r.interrupted ? ["Rerun the same reencrypt command to finish"] : []),
        "Point the application at the new key, deploy and verify (POLICY.md §5 steps 6-8)",
        "Then audit which decrypts used the old key: dropkeys audit-decrypts",
      ];
    },
  };
}
