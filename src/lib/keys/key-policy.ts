// The key policy of a new KMS key, from the policy's role bindings, so purpose binding is enforced
// by KMS itself (POLICY.md §3): key admins manage but cannot decrypt data; only the principals of
// the entry's decryptRoles may decrypt; encryptRoles may encrypt; auditors may read metadata.
// The account root gets administration only (never cryptographic use), which keeps the key
// manageable through IAM without letting an IAM policy grant Decrypt.
import type { KmsKeyEntry, Policy } from "../policy/schema.js";
import { CANARY_CONTEXT } from "./kms.js";

const ADMIN_ACTIONS = [
  "kms:CancelKeyDeletion",
  "kms:CreateAlias",
  "kms:DeleteAlias",
  "kms:DescribeKey",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:EnableKey",
  "kms:EnableKeyRotation",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListAliases",
  "kms:ListKeyRotations",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:RotateKeyOnDemand",
  "kms:ScheduleKeyDeletion",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
];
const DECRYPT_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"];
const ENCRYPT_ACTIONS = ["kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"];
const AUDIT_ACTIONS = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyRotations", "kms:ListResourceTags"];
// `dropkeys grant` / `revoke-grant` / `grant --retire-expired` run as a key administrator. A grant
// that itself allows CreateGrant would let its grantee hand the key on outside dropkeys: refused here.
const GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RetireGrant", "kms:RevokeGrant"];

export interface KeyPolicyStatement {
  Sid: string;
  Effect: "Allow";
  Principal: { AWS: string | string[] };
  Action: string[];
  Resource: "*";
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface KeyPolicyDocument {
  Version: "2012-10-17";
  Id: string;
  Statement: KeyPolicyStatement[];
}

function principalsOf(policy: Policy, roles: string[]): string[] {
  return [...new Set(roles.flatMap((role) => policy.roles[role]?.principals ?? []))].sort();
}

function statement(Sid: string, principals: string[], Action: string[], Condition?: KeyPolicyStatement["Condition"]): KeyPolicyStatement {
  return { Sid, Effect: "Allow", Principal: { AWS: principals.length === 1 ? principals[0]! : principals }, Action, Resource: "*", ...(Condition ? { Condition } : {}) };
}

/** The key policy document for `entry` in `account`; warnings name role bindings that are empty. */
export function buildKeyPolicy(policy: Policy, entry: KmsKeyEntry, account: string): { document: KeyPolicyDocument; warnings: string[] } {
  const warnings: string[] = [];
  const root = `arn:aws:iam::${account}:root`;
  const admins = principalsOf(policy, ["drop-key-admin"]);
  const statements: KeyPolicyStatement[] = [statement("AccountAdministrationOnly", [root], ADMIN_ACTIONS)];
  if (admins.length) {
    statements.push(statement("KeyAdministrators", admins, ADMIN_ACTIONS));
    statements.push(statement("GrantsWithoutRegrant", admins, GRANT_ACTIONS, { "ForAllValues:StringNotEquals": { "kms:GrantOperations": ["CreateGrant"] } }));
  } else warnings.push("roles.drop-key-admin lists no principals: only the account root administers the key");
  // The tool's own verifications (canary encrypt/decrypt) need these; bound to the canary's
  // encryption context, they let nobody decrypt data.
  statements.push(
    statement("CanaryOnly", [root, ...admins], ["kms:Encrypt", "kms:Decrypt"], {
      StringEquals: Object.fromEntries(Object.entries(CANARY_CONTEXT).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
    }),
  );
  const decrypters = principalsOf(policy, entry.decryptRoles);
  if (decrypters.length) statements.push(statement("DecryptByPurpose", decrypters, DECRYPT_ACTIONS));
  else if (entry.decryptRoles.length) warnings.push(`roles ${entry.decryptRoles.join(", ")} list no principals: nobody can decrypt with the key yet`);
  const encrypters = principalsOf(policy, entry.encryptRoles);
  if (encrypters.length) statements.push(statement("EncryptOnly", encrypters, ENCRYPT_ACTIONS));
  const auditors = principalsOf(policy, ["drop-key-auditor"]);
  if (auditors.length) statements.push(statement("Audit", auditors, AUDIT_ACTIONS));
  return { document: { Version: "2012-10-17", Id: `dropkeys-${entry.name}`, Statement: statements }, warnings };
}

/** The key policy `generate` would write today for the key at `arn` (its account from the ARN). */
export function expectedKeyPolicy(policy: Policy, entry: KmsKeyEntry, arn: string): KeyPolicyDocument {
  return buildKeyPolicy(policy, entry, arn.split(":")[4] ?? policy.account ?? "").document;
}

/** The JSON text dropkeys puts (generate's CreateKey, sync-key-policy's PutKeyPolicy) and signs the digest of. */
export function keyPolicyText(document: KeyPolicyDocument): string {
  return JSON.stringify(document);
}

interface NormalStatement {
  sid: string;
  effect: string;
  principals: string[];
  actions: string[];
  /** Resource and Condition, canonical; NotAction / NotPrincipal too. */
  rest: string;
}

export interface KeyPolicyDiff {
  /** Statements the policy's version has and AWS lacks: a sync adds them. */
  added: string[];
  /** Statements only in AWS: a sync removes them. */
  removed: string[];
  changed: { sid: string; principalsAdded: string[]; principalsRemoved: string[]; actionsAdded: string[]; actionsRemoved: string[]; otherChanged: boolean }[];
  /** The same as readable lines: "+" a sync adds, "-" a sync removes, "~" changed. */
  lines: string[];
}

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)]);

function principalsIn(principal: unknown): string[] {
  if (principal === "*" || typeof principal === "string") return [String(principal)];
  if (!principal || typeof principal !== "object") return [];
  return Object.entries(principal).flatMap(([kind, v]) => list(v).map((p) => (kind === "AWS" ? p : `${kind}:${p}`)));
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]));
  return value;
}

function normalise(document: unknown): NormalStatement[] {
  const statements = (document as { Statement?: unknown } | undefined)?.Statement ?? [];
  return (Array.isArray(statements) ? statements : [statements]).map((raw: Record<string, unknown>, i: number) => {
    const { Sid, Effect, Principal, Action, ...rest } = raw ?? {};
    return {
      sid: typeof Sid === "string" && Sid ? Sid : `statement ${i + 1}`,
      effect: String(Effect ?? "?"),
      principals: [...new Set(principalsIn(Principal))].sort(),
      actions: [...new Set(list(Action))].sort(),
      rest: JSON.stringify(sorted(rest)),
    };
  });
}

const describeStatement = (s: NormalStatement) => `${s.effect} ${s.principals.join(", ") || "(no principal)"} to ${s.actions.join(", ") || "(no action)"}`;

/** How the key policy in AWS differs from the policy's version (statements matched by Sid). */
export function diffKeyPolicy(inAws: unknown, expected: KeyPolicyDocument): KeyPolicyDiff {
  const actual = new Map(normalise(inAws).map((s) => [s.sid, s]));
  const wanted = new Map(normalise(expected).map((s) => [s.sid, s]));
  const diff: KeyPolicyDiff = { added: [], removed: [], changed: [], lines: [] };
  for (const [sid, w] of wanted) {
    const a = actual.get(sid);
    if (!a) {
      diff.added.push(sid);
      diff.lines.push(`+ statement ${sid}: ${describeStatement(w)}`);
      continue;
    }
    const minus = (x: string[], y: string[]) => x.filter((v) => !y.includes(v));
    const change = {
      sid,
      principalsAdded: minus(w.principals, a.principals),
      principalsRemoved: minus(a.principals, w.principals),
      actionsAdded: minus(w.actions, a.actions),
      actionsRemoved: minus(a.actions, w.actions),
      otherChanged: a.effect !== w.effect || a.rest !== w.rest,
    };
    const parts = [
      ...change.principalsAdded.map((p) => `+ principal ${p}`),
      ...change.principalsRemoved.map((p) => `- principal ${p}`),
      ...change.actionsAdded.map((p) => `+ action ${p}`),
      ...change.actionsRemoved.map((p) => `- action ${p}`),
      ...(a.effect !== w.effect ? [`effect ${a.effect} -> ${w.effect}`] : []),
      ...(a.rest !== w.rest ? [`condition/resource ${a.rest} -> ${w.rest}`] : []),
    ];
    if (parts.length) {
      diff.changed.push(change);
      diff.lines.push(`~ statement ${sid}: ${parts.join("; ")}`);
    }
  }
  for (const [sid, a] of actual) {
    if (!wanted.has(sid)) {
      diff.removed.push(sid);
      diff.lines.push(`- statement ${sid}: ${describeStatement(a)}`);
    }
  }
  return diff;
}
