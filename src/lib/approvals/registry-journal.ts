// The approvers registry is sealed in the journal: a seal records the approvers list and its
// digest, approved by the previous sealed list (the first seal by the people it lists). Every
// operation checks that the policy's approvers are exactly the last sealed ones, so editing the
// policy file alone (say, adding a second key of one's own) approves nothing.
import { canonicalJson, sha256Hex } from "../canonical.js";
import { approvalError } from "../errors.js";
import type { JournalEntry } from "../journal/journal.js";
import type { Approver, Policy } from "../policy/schema.js";

export const SEAL_OPERATION = "approvers-seal";
export const REGISTRY_RULE = "registry";

export interface Seal {
  digest: string;
  approvers: Approver[];
  /** The intent entry that recorded it. */
  seq: number;
  time: string;
}

export function registryDigest(approvers: Approver[]): string {
  return sha256Hex(canonicalJson(approvers));
}

/** The last seal whose outcome succeeded, or undefined when the registry was never sealed. */
export function lastSeal(entries: JournalEntry[]): Seal | undefined {
  const succeeded = new Set(entries.filter((e) => e.type === "outcome" && e.operation === SEAL_OPERATION && e.outcome === "succeeded").map((e) => e.intentSeq));
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.type !== "intent" || e.operation !== SEAL_OPERATION || !succeeded.has(e.seq)) continue;
    const params = e.params as { digest?: unknown; approvers?: unknown } | undefined;
    if (typeof params?.digest !== "string" || !Array.isArray(params.approvers)) continue;
    return { digest: params.digest, approvers: params.approvers as Approver[], seq: e.seq, time: e.time };
  }
  return undefined;
}

// The first seal is approved by the list it seals (trust on first use): the seal marks that
// policy object so the pipeline's registry check lets exactly that operation through.
const firstSealPolicies = new WeakSet<Policy>();

export function allowUnsealedForFirstSeal(policy: Policy): void {
  firstSealPolicies.add(policy);
}

export type RegistryState =
  | { state: "sealed"; seal: Seal; digest: string }
  | { state: "changed"; seal: Seal; digest: string }
  | { state: "unsealed"; digest: string }
  | { state: "empty"; digest: string };

export function registryState(policy: Policy, entries: JournalEntry[]): RegistryState {
  const digest = registryDigest(policy.approvers);
  const seal = lastSeal(entries);
  if (seal) return seal.digest === digest ? { state: "sealed", seal, digest } : { state: "changed", seal, digest };
  return policy.approvers.length === 0 ? { state: "empty", digest } : { state: "unsealed", digest };
}

/** Refuse (exit 3) when the policy's approvers are not the last sealed list. */
export function checkRegistry(policy: Policy, entries: JournalEntry[]): void {
  if (firstSealPolicies.has(policy)) return;
  const s = registryState(policy, entries);
  // No approvers and no seal: nothing can be approved anyway (collectApprovals says so), while
  // --dry-run and --request-out keep working on a fresh install.
  if (s.state === "sealed" || s.state === "empty") return;
  if (s.state === "unsealed") {
    throw approvalError("the approvers registry has never been sealed: approvals cannot be trusted until it is", {
      code: "approval.registry-unsealed",
      hint: "Seal it first: `dropkeys approvers seal` (signed by the approvers it lists), then rerun.",
      details: { digest: s.digest },
    });
  }
  throw approvalError(
    `the approvers registry changed without approval: the policy's approvers (digest ${s.digest.slice(0, 16)}…) are not the list sealed in journal entry #${s.seal.seq} (digest ${s.seal.digest.slice(0, 16)}…)`,
    {
      code: "approval.registry-changed",
      hint: "Restore the sealed approvers list, or have the change approved by the sealed registry's approvers: `dropkeys approvers seal`.",
      details: { digest: s.digest, sealedDigest: s.seal.digest, sealSeq: s.seal.seq },
    },
  );
}
