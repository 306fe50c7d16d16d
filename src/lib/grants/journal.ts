// Which grants dropkeys made, from the journal: a grant's outcome entry holds its id, key, grantee,
// operations and expiry; a later revoke-grant or retire-grant outcome ends it. A grant on a key
// that no journal entry names was made outside dropkeys ("foreign").
import type { JournalEntry } from "../journal/journal.js";

export const GRANT_OPERATION = "grant";
export const REVOKE_OPERATION = "revoke-grant";
export const RETIRE_OPERATION = "retire-grant";

export interface JournalGrant {
  grantId: string;
  keyId: string;
  keyArn?: string | undefined;
  region?: string | undefined;
  name?: string | undefined;
  grantee: string;
  operations: string[];
  createdAt: string;
  expiresAt: string;
  requestId?: string | undefined;
  /** Set once dropkeys retired or revoked it. */
  ended?: { operation: string; at: string } | undefined;
}

export function journalGrants(entries: JournalEntry[]): Map<string, JournalGrant> {
  const grants = new Map<string, JournalGrant>();
  for (const e of entries) {
    const d = e.details ?? {};
    if (typeof d.grantId !== "string") continue;
    if (e.operation === GRANT_OPERATION && e.type === "outcome" && e.outcome === "succeeded") {
      grants.set(d.grantId, {
        grantId: d.grantId,
        keyId: String(d.keyId),
        keyArn: e.target?.arn,
        region: e.target?.region,
        name: e.target?.name,
        grantee: String(d.grantee),
        operations: (d.operations as string[]) ?? [],
        createdAt: String(d.createdAt ?? e.time),
        expiresAt: String(d.expiresAt),
        requestId: e.requestId,
      });
    } else if ((e.operation === REVOKE_OPERATION || e.operation === RETIRE_OPERATION) && (e.outcome === "succeeded" || e.outcome === "noop")) {
      // A noop: the grant was already gone from KMS when dropkeys came to retire it.
      const g = grants.get(d.grantId);
      if (g) g.ended = { operation: e.operation, at: e.time };
    }
  }
  return grants;
}

export function isExpired(grant: JournalGrant, at: Date): boolean {
  return new Date(grant.expiresAt).getTime() <= at.getTime();
}
