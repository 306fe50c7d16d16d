// Merging two approval rules into one that is at least as strict as each: the slots of the
// first, plus every slot of the second that no slot of the first already implies (a slot implies
// another when anyone who can fill it holds one of the other's roles). Pure: the policy's seal
// and the pipeline both use it.
import type { ApprovalRule } from "./schema.js";

type Slot = ApprovalRule["roles"][number];

const rolesOf = (slot: Slot): string[] => (Array.isArray(slot) ? slot : [slot]);

function implies(a: Slot, b: Slot): boolean {
  const bRoles = rolesOf(b);
  if (bRoles.includes("*")) return true;
  const aRoles = rolesOf(a);
  return !aRoles.includes("*") && aRoles.every((r) => bRoles.includes(r));
}

export function mergeRules(a: ApprovalRule, b: ApprovalRule): ApprovalRule {
  const used = new Set<number>();
  const extra: Slot[] = [];
  for (const slot of b.roles) {
    const match = a.roles.findIndex((s, i) => !used.has(i) && implies(s, slot));
    if (match === -1) extra.push(slot);
    else used.add(match);
  }
  const exception = a.singleCustodianException && b.singleCustodianException ? a.singleCustodianException : undefined;
  const lifetimes = [a.requestLifetime, b.requestLifetime].filter((x): x is number => x !== undefined);
  return {
    roles: [...a.roles, ...extra],
    ...(exception ? { singleCustodianException: exception } : {}),
    ...(lifetimes.length ? { requestLifetime: Math.min(...lifetimes) } : {}),
  };
}
