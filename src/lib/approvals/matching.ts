// Which approver fills which slot of an approval rule. Each slot needs a different person, so
// this is a bipartite matching (augmenting paths), not first-come: alem (CISO, security-lead)
// and bob (CISO) cover [security-lead, CISO] only with alem as security-lead.
import type { ApprovalRule, Approver } from "../policy/schema.js";

export type Slot = ApprovalRule["roles"][number];

export function slotRoles(slot: Slot): string[] {
  return Array.isArray(slot) ? slot : [slot];
}

export function describeSlot(slot: Slot): string {
  return slotRoles(slot)
    .map((r) => (r === "*" ? "any registered approver" : r))
    .join(" or ");
}

export function describeRuleSlots(rule: ApprovalRule): string {
  return rule.roles.map(describeSlot).join(" + ");
}

/** The role an approver fills a slot with ("*" when the slot takes anyone), or undefined. */
export function fillsSlot(approver: Approver, slot: Slot): string | undefined {
  for (const role of slotRoles(slot)) {
    if (role === "*") return "*";
    if (approver.roles.includes(role)) return role;
  }
  return undefined;
}

export interface Matching {
  /** slot index -> index into `people`, or -1 when unfilled. */
  slotToPerson: number[];
  complete: boolean;
  unfilled: number[];
}

export function matchSlots(slots: Slot[], people: Approver[]): Matching {
  const slotToPerson = slots.map(() => -1);
  const tryPerson = (p: number, seen: Set<number>): boolean => {
    for (let s = 0; s < slots.length; s++) {
      if (seen.has(s) || fillsSlot(people[p]!, slots[s]!) === undefined) continue;
      seen.add(s);
      if (slotToPerson[s] === -1 || tryPerson(slotToPerson[s]!, seen)) {
        slotToPerson[s] = p;
        return true;
      }
    }
    return false;
  };
  for (let p = 0; p < people.length; p++) tryPerson(p, new Set());
  const unfilled = slotToPerson.flatMap((p, s) => (p === -1 ? [s] : []));
  return { slotToPerson, complete: unfilled.length === 0, unfilled };
}

/** Registered, unrevoked approvers who could fill a slot (for prompts and messages). */
export function candidatesFor(slot: Slot, approvers: Approver[]): Approver[] {
  return approvers.filter((a) => !a.revoked && fillsSlot(a, slot) !== undefined);
}
