// The authority part of the policy: every field that decides who may do what, to what, and where
// the journal's tamper-proof copy lives. `dropkeys policy seal` journals this object and its
// digest; while the file differs from the last seal in any of these fields, every operation is
// refused. Endpoints, timeouts, alert thresholds and display settings are left out on purpose:
// they change how dropkeys reaches AWS or what it shows, not who may approve what.
import { canonicalJson, sha256Hex } from "../canonical.js";
import { mergeRules } from "./rules.js";
import type { ApprovalRule, Policy } from "./schema.js";

export interface Authority {
  account: string | null;
  region: string;
  roles: Record<string, { principals: string[] }>;
  approvers: Policy["approvers"];
  approvals: Record<string, ApprovalRule>;
  requestLifetime: number;
  inventory: Record<string, unknown>[];
  database: Record<string, unknown> | null;
  jwt: { secret: string; deployCommand: string | null; activeSessionsQuery: string | null; emergencyOverlap: number };
  envelope: { key: string };
  journal: { mirror: string | null; retentionDays: number; id: string | null };
  /** How long an access grant may live, and who retires it: a longer lifetime is wider access. */
  grants: { maxLifetime: number; defaultLifetime: number | null; retiringPrincipal: string | null };
}

/** Default Object Lock retention of the journal mirror (POLICY.md §8: 5 years). */
export const DEFAULT_RETENTION_DAYS = 1827;

export function authorityOf(policy: Policy): Authority {
  const { url: _url, shredBatchSize: _batch, ...database } = policy.database ?? ({} as Record<string, unknown>);
  return {
    account: policy.account ?? null,
    region: policy.region,
    roles: Object.fromEntries(Object.entries(policy.roles).map(([name, role]) => [name, { principals: role.principals }])),
    approvers: policy.approvers,
    approvals: Object.fromEntries(Object.entries(policy.approvals).filter(([name, rule]) => !isDerivedRule(policy.approvals, name, rule))),
    requestLifetime: policy.requestLifetime,
    inventory: policy.inventory.map((entry) => {
      const e = entry as Record<string, unknown>;
      // Key identity (name, kind, region), holds and classification, and who may use the key.
      return {
        name: entry.name,
        kind: entry.kind,
        region: entry.region ?? policy.region,
        litigationHold: entry.litigationHold,
        classification: entry.classification ?? null,
        ...pick(e, ["keySpec", "keyUsage", "decryptRoles", "encryptRoles", "source", "algorithm"]),
      };
    }),
    database: policy.database ? database : null,
    jwt: {
      secret: policy.jwt.secret,
      deployCommand: policy.jwt.deployCommand ?? null,
      activeSessionsQuery: policy.jwt.activeSessionsQuery ?? null,
      emergencyOverlap: policy.jwt.emergencyOverlap,
    },
    envelope: { key: policy.envelope.key },
    journal: journalSettings(policy),
    grants: {
      maxLifetime: policy.grants.maxLifetime,
      defaultLifetime: policy.grants.defaultLifetime ?? null,
      retiringPrincipal: policy.grants.retiringPrincipal ?? null,
    },
  };
}

export function journalSettings(policy: Policy): Authority["journal"] {
  const j = policy.journal;
  return { mirror: j?.mirror ?? null, retentionDays: j?.retentionDays ?? DEFAULT_RETENTION_DAYS, id: j?.id ?? null };
}

export function authorityDigest(authority: Authority): string {
  return sha256Hex(canonicalJson(authority));
}

/**
 * A rule dropkeys derives at run time ("reencrypt+enable", see reencrypt/rules.ts) is not part of
 * the file: it is recomputed from its two sealed parts, so it is left out of the digest.
 */
function isDerivedRule(rules: Record<string, ApprovalRule>, name: string, rule: ApprovalRule): boolean {
  const [a, b, ...rest] = name.split("+");
  if (!a || !b || rest.length || !rules[a] || !rules[b]) return false;
  return canonicalJson(mergeRules(rules[a], rules[b])) === canonicalJson(rule);
}

/** A rule by name from a sealed authority, derived rules ("a+b") included. */
export function sealedRule(authority: Pick<Authority, "approvals">, name: string): ApprovalRule | undefined {
  const rule = authority.approvals[name];
  if (rule) return rule;
  const [a, b, ...rest] = name.split("+");
  if (!a || !b || rest.length) return undefined;
  const first = authority.approvals[a];
  const second = authority.approvals[b];
  return first && second ? mergeRules(first, second) : undefined;
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
}

/**
 * The fields that differ between two authorities, as paths a person can find in the file:
 * `approvals.registry`, `inventory[drop-kyc-key].litigationHold`, `database.users.id`.
 */
export function changedFields(sealed: unknown, current: unknown, where = ""): string[] {
  if (canonicalJson(sealed ?? null) === canonicalJson(current ?? null)) return [];
  if (isNamedList(sealed) && isNamedList(current)) {
    const names = [...new Set([...sealed, ...current].map((x) => x.name))];
    return names.flatMap((name) =>
      changedFields(
        sealed.find((x) => x.name === name),
        current.find((x) => x.name === name),
        `${where}[${name}]`,
      ),
    );
  }
  if (isRecord(sealed) && isRecord(current)) {
    const keys = [...new Set([...Object.keys(sealed), ...Object.keys(current)])].sort();
    return keys.flatMap((k) => changedFields(sealed[k], current[k], where ? `${where}.${k}` : k));
  }
  return [where || "(the whole policy)"];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isNamedList(v: unknown): v is { name: string }[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => isRecord(x) && typeof x.name === "string");
}
