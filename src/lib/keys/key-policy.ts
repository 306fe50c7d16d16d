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
const AUDIT_ACTIONS = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListKeyRotations", "kms:ListResourceTags"];

export interface KeyPolicyStatement {
  Sid: string;
  Effect: "Allow";
  Principal: { AWS: string | string[] };
  Action: string[];
  Resource: "*";
  Condition?: Record<string, Record<string, string>>;
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
  if (admins.length) statements.push(statement("KeyAdministrators", admins, ADMIN_ACTIONS));
  else warnings.push("roles.drop-key-admin lists no principals: only the account root administers the key");
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
