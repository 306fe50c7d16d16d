// The policy's authority (approvers, approval rules, holds, database mapping, mirror: see
// policy/authority.ts) is sealed in the journal: a seal records that object and its digest,
// approved under the `registry` rule and approvers of the previous seal (the first seal by the
// people it lists). Every operation checks that the policy file is exactly the last sealed one,
// so editing the file alone (a second key of one's own, a one-person rule, a lifted hold)
// approves nothing. The journal operation keeps its first name, "approvers-seal".
import { approvalError } from "../errors.js";
import type { JournalEntry } from "./journal.js";
import { authorityDigest, authorityOf, changedFields, type Authority } from "../policy/authority.js";
import type { Approver, Policy } from "../policy/schema.js";

export const SEAL_OPERATION = "approvers-seal";
export const REGISTRY_RULE = "registry";

export interface Seal {
  digest: string;
  /** The sealed authority; absent in seals written before the whole policy was sealed. */
  authority?: Authority;
  approvers: Approver[];
  /** The intent entry that recorded it. */
  seq: number;
  time: string;
}

/** The journal's id: the hash of its first entry (null while it is empty). */
export function journalId(entries: JournalEntry[]): string | null {
  return entries[0]?.hash ?? null;
}

/** The digest the policy file would be sealed with now. */
export function policyDigest(policy: Policy): string {
  return authorityDigest(authorityOf(policy));
}

/** The last seal whose outcome succeeded, or undefined when the policy was never sealed. */
export function lastSeal(entries: JournalEntry[]): Seal | undefined {
  const succeeded = new Set(entries.filter((e) => e.type === "outcome" && e.operation === SEAL_OPERATION && e.outcome === "succeeded").map((e) => e.intentSeq));
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.type !== "intent" || e.operation !== SEAL_OPERATION || !succeeded.has(e.seq)) continue;
    const params = e.params as { digest?: unknown; approvers?: unknown; authority?: Authority } | undefined;
    if (typeof params?.digest !== "string") continue;
    if (params.authority && Array.isArray(params.authority.approvers)) {
      return { digest: params.digest, authority: params.authority, approvers: params.authority.approvers, seq: e.seq, time: e.time };
    }
    if (Array.isArray(params.approvers)) return { digest: params.digest, approvers: params.approvers as Approver[], seq: e.seq, time: e.time };
  }
  return undefined;
}

// A seal runs under the previous seal's approvers and rules (or, the first one, under the list
// it seals): it marks that substituted policy object so the pipeline's seal check lets exactly
// that operation through.
const sealPolicies = new WeakSet<Policy>();

export function exemptFromSealCheck(policy: Policy): void {
  sealPolicies.add(policy);
}

export type RegistryState =
  | { state: "sealed"; seal: Seal; digest: string }
  | { state: "changed"; seal: Seal; digest: string; fields: string[] }
  | { state: "unsealed"; digest: string }
  | { state: "empty"; digest: string };

export function registryState(policy: Policy, entries: JournalEntry[]): RegistryState {
  const current = authorityOf(policy);
  const digest = authorityDigest(current);
  const seal = lastSeal(entries);
  if (seal) {
    if (seal.digest === digest) return { state: "sealed", seal, digest };
    const fields = seal.authority ? changedFields(seal.authority, current) : ["(sealed by an older dropkeys: only the approvers were sealed)"];
    return { state: "changed", seal, digest, fields };
  }
  return policy.approvers.length === 0 ? { state: "empty", digest } : { state: "unsealed", digest };
}

/** Refuse (exit 3) when the policy's authority is not the last sealed one, naming what changed. */
export function checkRegistry(policy: Policy, entries: JournalEntry[]): void {
  if (sealPolicies.has(policy)) return;
  const s = registryState(policy, entries);
  // No approvers and no seal: nothing can be approved anyway (collectApprovals says so), while
  // --dry-run and --request-out keep working on a fresh install.
  if (s.state === "sealed" || s.state === "empty") return;
  if (s.state === "unsealed") {
    throw approvalError("the approvers registry has never been sealed: approvals cannot be trusted until the policy's authority (approvers, rules, holds, mappings) is", {
      code: "approval.registry-unsealed",
      hint: "Seal it first: `dropkeys policy seal` (alias `dropkeys approvers seal`), signed by the approvers it lists, then rerun.",
      details: { digest: s.digest },
    });
  }
  const shown = s.fields.slice(0, 12).join(", ") + (s.fields.length > 12 ? `, and ${s.fields.length - 12} more` : "");
  const approversChanged = s.fields.some((f) => f.startsWith("approvers"));
  const what = approversChanged
    ? `the approvers registry changed without approval: the policy's approvers (digest ${s.digest.slice(0, 16)}…) are not the list sealed in journal entry #${s.seal.seq} (digest ${s.seal.digest.slice(0, 16)}…)`
    : `the policy changed since its seal in journal entry #${s.seal.seq}`;
  throw approvalError(
    `${what}; sealed fields that differ: ${shown}. Nothing is done under an unsealed policy`,
    {
      code: "approval.registry-changed",
      hint: "Restore the sealed values, or have the change approved under the previous seal's `registry` rule: `dropkeys policy seal` (alias `dropkeys approvers seal`).",
      details: { digest: s.digest, sealedDigest: s.seal.digest, sealSeq: s.seal.seq, fields: s.fields },
    },
  );
}
