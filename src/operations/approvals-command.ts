// `dropkeys approve`, `dropkeys apply` and `dropkeys approvers ...`: thin glue between the
// command line, the approvals library and the pipeline.
import { writeFileSync } from "node:fs";
import type { GlobalOptions, OperationOptions } from "../lib/cli-options.js";
import { createContext, type Context } from "../lib/context.js";
import { approvalError } from "../lib/errors.js";
import { pipelineFlags, runOperation, type OperationResult } from "./pipeline.js";
import { loadOperation } from "./registry.js";
import { table } from "../lib/output.js";
import { renderOperation } from "./render.js";
import { formatLocal } from "../lib/time.js";
import { describeRequest } from "../lib/approvals/describe.js";
import { kmsPublicKey, spkiFingerprint } from "../lib/approvals/kms.js";
import { registryState, SEAL_OPERATION } from "../lib/journal/approver-registry.js";
import { readRequestFile, requestBytes } from "../lib/approvals/request.js";
import { approvalContext, build as buildSeal, type SealResult } from "./seal.js";
import { signAs } from "../lib/approvals/sign.js";
import { fingerprint, publicKeyBlob } from "../lib/approvals/sshsig.js";

export interface ApproveOptions extends GlobalOptions {
  as: string;
  key?: string;
  kmsProfile?: string;
  out?: string;
}

export async function runApprove(file: string, options: ApproveOptions): Promise<void> {
  const ctx = await createContext(options);
  const request = readRequestFile(file);
  if (Date.now() > Date.parse(request.expiresAt)) {
    throw approvalError(`request ${request.id} expired at ${formatLocal(new Date(request.expiresAt))}; not signing it`, {
      code: "approval.expired",
      hint: "Ask for a new request (the command with --request-out FILE).",
    });
  }
  // A registry change is approved by the previous sealed list: look the signer up there.
  const approvers = approvalContext(ctx, request.operation).policy.approvers;
  const approver = approvers.find((a) => a.name === options.as);
  if (!approver) {
    throw approvalError(`"${options.as}" is not a registered approver${request.operation === SEAL_OPERATION ? " of the sealed registry" : ""}`, {
      code: "approval.unknown-approver",
      hint: `Registered: ${approvers.map((a) => a.name).join(", ") || "(none)"}.`,
    });
  }
  if (!ctx.out.json) ctx.out.info(["You are approving:", ...describeRequest(request)].join("\n"));
  const signer = { aws: ctx.aws, endpoints: ctx.policy.endpoints, endpointUrl: ctx.options.endpointUrl };
  const text = await signAs(signer, approver, request, requestBytes(request), { keyFile: options.key, kmsProfile: options.kmsProfile, terminal: ctx.interactive });
  const out = options.out ?? `${file}.${approver.name}.sig`;
  writeFileSync(out, text, { mode: 0o644 });
  ctx.out.result({ requestId: request.id, approver: approver.name, signer: approver.kms ? "kms" : "ssh", file: out }, () =>
    ctx.out.color.green(`Approved request ${request.id} as ${approver.name}; approval written to ${out}`),
  );
}

export async function runApply(file: string, options: GlobalOptions & { approval: string[] }): Promise<void> {
  const ctx = await createContext(options);
  const request = readRequestFile(file);
  const module = await loadOperation(request.operation);
  const name = typeof request.params.name === "string" ? request.params.name : request.target;
  const input = { name, params: request.params, reason: request.reason ?? undefined, incident: request.incident ?? undefined };
  const spec = await module.build(ctx, input);
  const outcome = await runOperation(approvalContext(ctx, request.operation), spec, { requestFile: file, approvalFiles: options.approval });
  if (module.render) return module.render(ctx, outcome, spec, input);
  renderOperation(ctx, outcome, {
    command: `dropkeys apply ${file}`,
    done: () => [ctx.out.color.green(`Done: ${spec.summary}`)],
  });
}

export type SealOptions = OperationOptions;

export async function runSeal(options: SealOptions): Promise<void> {
  const ctx = await createContext(options);
  const spec = await buildSeal(ctx, { name: "approvers", params: {}, reason: options.reason, incident: options.incident });
  const outcome: OperationResult<SealResult> = await runOperation(approvalContext(ctx, SEAL_OPERATION), spec, pipelineFlags(options));
  renderOperation(ctx, outcome, {
    command: "dropkeys policy seal",
    done: (r) => [
      ctx.out.color.green(`Sealed the approvers registry: ${r.approvers} approver(s), with the rest of the policy's authority (rules, holds, mappings, mirror), digest ${r.digest.slice(0, 16)}…`),
    ],
    json: (r) => ({ digest: r.digest, approvers: r.approvers, changed: r.fields }),
  });
}

export async function runApproversList(options: GlobalOptions): Promise<void> {
  const ctx: Context = await createContext(options);
  const state = registryState(ctx.policy, ctx.journal().entries());
  const rows = await Promise.all(
    ctx.policy.approvers.map(async (a) => ({
      name: a.name,
      email: a.email,
      roles: a.roles,
      signer: a.kms ? "kms" : "ssh",
      key: a.kms ?? a.ssh!,
      fingerprint: a.ssh ? fingerprint(publicKeyBlob(a.ssh)) : a.kmsPublicKey ? spkiFingerprint(await kmsPublicKey(ctx.aws, a.kms!, a.kmsPublicKey)) : undefined,
      revoked: a.revoked,
    })),
  );
  const registry = {
    state: state.state,
    digest: state.digest,
    ...("seal" in state ? { sealedDigest: state.seal.digest, sealedAt: state.seal.time, sealEntry: state.seal.seq } : {}),
    ...("fields" in state ? { changed: state.fields } : {}),
  };
  const c = ctx.out.color;
  ctx.out.result({ registry, approvers: rows }, () => {
    const words = {
      sealed: c.green(`sealed (journal entry #${"seal" in state ? state.seal.seq : "?"})`),
      changed: c.red("CHANGED since the last seal: operations are refused until `dropkeys policy seal` is approved"),
      unsealed: c.yellow("never sealed: run `dropkeys policy seal`"),
      empty: c.dim("no approvers registered"),
    };
    const lines = [`Approvers registry: ${words[state.state]}`, c.dim(`digest ${state.digest}`)];
    if (state.state === "changed") lines.push(c.red(`Changed since the seal: ${state.fields.join(", ")}`));
    if (rows.length) {
      lines.push(
        "",
        table(
          ["NAME", "EMAIL", "ROLES", "SIGNER", "KEY"],
          rows.map((r) => [r.revoked ? c.strikethrough(r.name) + " (revoked)" : r.name, r.email, r.roles.join(", "), r.signer, r.fingerprint ?? r.key]),
        ),
      );
    }
    return lines.join("\n");
  });
}
