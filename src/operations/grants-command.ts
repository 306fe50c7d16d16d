// The commands grant, revoke-grant and sync-key-policy: flags -> the operation's input (laid over
// a signed --request file's params, so a different flag is a mismatch the pipeline refuses), the
// pipeline, and the operation module's own rendering.
import type { OperationOptions } from "../lib/cli-options.js";
import { createContext } from "../lib/context.js";
import { pipelineFlags, runOperation } from "./pipeline.js";
import { inputFromFlags } from "./input.js";
import { loadOperation } from "./registry.js";

export async function runGrantOperation(operation: "grant" | "revoke-grant" | "sync-key-policy", name: string, options: OperationOptions, params: Record<string, unknown>): Promise<void> {
  const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
  const ctx = await createContext(options);
  const input = inputFromFlags(operation, name, options, given);
  const module = await loadOperation(operation);
  const spec = await module.build(ctx, input);
  const outcome = await runOperation(ctx, spec, pipelineFlags(options));
  await module.render?.(ctx, outcome, spec, input);
}
