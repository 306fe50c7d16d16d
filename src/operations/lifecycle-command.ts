// What the key lifecycle commands share: flags -> the operation's input (or the input of a signed
// --request file), the local confirmation a deletion needs, the pipeline, and the rendering of
// each operation's result with its next steps.
import type { OperationOptions } from "../lib/cli-options.js";
import { createContext, type Context } from "../lib/context.js";
import { isDropkeysError, usageError, type DropkeysError } from "../lib/errors.js";
import { pipelineFlags, runOperation, type OperationResult, type OperationSpec } from "./pipeline.js";
import { inputFromFlags } from "./input.js";
import { loadOperation } from "./registry.js";
import { aliasOf, resolveEntry } from "../lib/targets.js";
import { lifecycleRender, type LifecycleOperation } from "./lifecycle-render.js";

export type LifecycleOptions = OperationOptions;

/**
 * Run one lifecycle command. `params` holds only the flags given (undefined dropped); with
 * --request, they are laid over the signed request's params, so a different flag is a mismatch
 * the pipeline refuses rather than something silently ignored.
 */
export async function runLifecycle(
  operation: LifecycleOperation,
  name: string,
  options: LifecycleOptions,
  params: Record<string, unknown>,
  local: { confirm?: string | undefined } = {},
): Promise<void> {
  const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
  const ctx = await createContext(options);
  const input = inputFromFlags(operation, name, options, given);
  const module = await loadOperation(operation);
  const executes = !options.dryRun && !options.requestOut;
  // build() first: a bad --days or a missing --reason is named before the confirmation is.
  const spec = await module.build(ctx, input);
  if (operation === "schedule-deletion" && executes) requireConfirmation(ctx, name, local.confirm);
  if (operation === "schedule-deletion" && executes && local.confirm === undefined) confirmOnTerminal(ctx, spec, name);
  let outcome: OperationResult<unknown>;
  try {
    outcome = await runOperation(ctx, spec, pipelineFlags(options));
  } catch (error) {
    if (operation === "generate" && ctx.interactive && !options.request && isDropkeysError(error) && error.code === "generate.alias-pending-deletion") {
      return chooseForPendingAlias(ctx, name, options, given, error);
    }
    throw error;
  }
  if (operation === "disable" && outcome.status === "noop" && executes) await journalNoop(ctx, spec, outcome);
  lifecycleRender(operation)(ctx, outcome, spec, input);
}

/** At a terminal, the choice the policy allows when the alias's key is pending deletion. */
async function chooseForPendingAlias(ctx: Context, name: string, options: LifecycleOptions, given: Record<string, unknown>, error: DropkeysError): Promise<void> {
  const { input, select } = await import("@inquirer/prompts");
  ctx.out.warn(error.message);
  const choices = [
    ...(ctx.policy.approvals["cancel-deletion"] ? [{ name: "Keep that key: cancel its deletion (it stays disabled)", value: "cancel" }] : []),
    { name: "Create a new key and move the alias to it (approvals for creation)", value: "move" },
    { name: "Do nothing", value: "none" },
  ];
  const choice = await select({ message: "What now?", choices });
  if (choice === "none") throw error;
  if (choice === "move") return runLifecycle("generate", name, options, { ...given, moveAlias: true });
  const reason = options.reason ?? (await input({ message: "Why cancel the deletion (for the journal)?", validate: (v) => v.trim() !== "" || "a reason is required" }));
  return runLifecycle("cancel-deletion", name, { ...options, reason }, {});
}

/** --confirm must name the key; without it, only a person at a terminal can confirm. Exit 2 otherwise. */
function requireConfirmation(ctx: Context, name: string, confirm: string | undefined): void {
  const target = resolveEntry(ctx, name, ["kms-key", "secret", "signing-key"]);
  const expected = target.entry.kind === "kms-key" ? aliasOf(target.name) : target.name;
  if (confirm !== undefined) {
    const typed = confirm.trim();
    if (typed !== expected && typed !== target.name) {
      throw usageError(`--confirm "${confirm}" does not match ${expected}: nothing was scheduled`, { code: "usage.confirm-mismatch" });
    }
    return;
  }
  if (!ctx.interactive) {
    throw usageError(`schedule-deletion needs --confirm ${expected} when no one is at a terminal`, {
      code: "usage.confirm-required",
      hint: `Deleting a key is irreversible after the waiting period; scripts confirm with --confirm ${expected}.`,
    });
  }
}

/** At a terminal: after the preflight facts are shown, the person types the alias before any approval. */
function confirmOnTerminal(ctx: Context, spec: OperationSpec<unknown>, name: string): void {
  const original = spec.preflight.bind(spec);
  const target = resolveEntry(ctx, name, ["kms-key", "secret", "signing-key"]);
  const expected = target.entry.kind === "kms-key" ? aliasOf(target.name) : target.name;
  spec.preflight = async () => {
    const preflight = await original();
    if (preflight.noop !== undefined) return preflight;
    ctx.out.info(ctx.out.color.bold(spec.summary));
    for (const fact of preflight.facts) ctx.out.info(`  ${fact}`);
    const { input } = await import("@inquirer/prompts");
    const typed = await input({ message: `Type ${expected} to confirm its deletion:` });
    if (typed.trim() !== expected && typed.trim() !== target.name) {
      throw usageError(`"${typed}" does not match ${expected}: nothing was scheduled`, { code: "usage.confirm-mismatch" });
    }
    return preflight;
  };
}

/** A disable that found the key already disabled still belongs in the incident's record. */
async function journalNoop(ctx: Context, spec: OperationSpec<unknown>, outcome: OperationResult<unknown>): Promise<void> {
  if (!spec.incident) return;
  ctx.journal().append({
    type: "event",
    operation: spec.operation,
    target: spec.journalTarget,
    actor: await ctx.identity(),
    reason: spec.reason,
    incident: spec.incident,
    params: spec.params,
    outcome: "noop",
    details: { message: outcome.preflight.noop },
  });
}
