// The management events `audit-changes` compares with the journal: every call that changes a KMS
// key, alias or grant, or a Secrets Manager secret, read from the same CloudTrail records the
// decrypt audit reads (the scanner hands each record to takeChange when ScanFilter.changes is on).
// Loaded by the parser threads: no imports but types and normalize.
import { identityOf, KMS_SOURCE } from "./normalize.js";
import type { ChangeEvent, FileResult, ScanFilter } from "./types.js";

export type { ChangeEvent };

export const SECRETS_SOURCE = "secretsmanager.amazonaws.com";

/** KMS calls that change a key, its aliases or grants (issue 13's list; RotateKey is KMS's own automatic rotation). */
export const KMS_CHANGES = new Set([
  "DisableKey",
  "EnableKey",
  "ScheduleKeyDeletion",
  "CancelKeyDeletion",
  "RotateKeyOnDemand",
  "RotateKey",
  "EnableKeyRotation",
  "DisableKeyRotation",
  "PutKeyPolicy",
  "CreateGrant",
  "RetireGrant",
  "RevokeGrant",
  "CreateAlias",
  "UpdateAlias",
  "DeleteAlias",
  "CreateKey",
  "ImportKeyMaterial",
]);

/** Secrets Manager calls that change a secret. Tag calls count only on `dropkeys:` tags. */
export const SECRET_CHANGES = new Set([
  "CreateSecret",
  "PutSecretValue",
  "UpdateSecret",
  "UpdateSecretVersionStage",
  "DeleteSecret",
  "RestoreSecret",
  "RotateSecret",
  "PutResourcePolicy",
  "TagResource",
  "UntagResource",
]);

const TAGGED = new Set(["TagResource", "UntagResource"]);

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+?)(-[A-Za-z0-9]{6})?$/;

/** A secret's name from a name, a full ARN (NAME-abcdef) or a partial ARN. */
export function secretName(id: string): string {
  const m = SECRET_ARN.exec(id);
  return m ? m[1]! : id;
}

function tagMap(list: unknown, keyField: string, valueField: string): Record<string, string> | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: Record<string, string> = {};
  for (const t of list) {
    const k = str(obj(t)?.[keyField]);
    if (k) out[k] = String(obj(t)?.[valueField] ?? "");
  }
  return out;
}

export type ChangeParse = { change: ChangeEvent } | { problem: string } | { skip: true };

/** A CloudTrail record -> a change, or why it is not one (another service, a read, a tag call on other tags). */
export function parseChange(record: unknown): ChangeParse {
  const r = obj(record);
  if (!r) return { skip: true };
  const service = r.eventSource === KMS_SOURCE ? "kms" : r.eventSource === SECRETS_SOURCE ? "secretsmanager" : undefined;
  const name = str(r.eventName);
  if (!service || !name || !(service === "kms" ? KMS_CHANGES : SECRET_CHANGES).has(name)) return { skip: true };
  const id = str(r.eventID);
  const timeText = str(r.eventTime);
  const time = timeText ? Date.parse(timeText) : NaN;
  const identity = obj(r.userIdentity);
  // A malformed KMS record is counted once, by normalize(); a Secrets Manager one here.
  const problem = !id ? "an event without eventID" : Number.isNaN(time) ? `event ${id} has no valid eventTime` : !identity ? `event ${id} has no userIdentity` : undefined;
  if (problem || !id || !identity) return service === "kms" ? { skip: true } : { problem: problem ?? "malformed event" };
  const params = obj(r.requestParameters) ?? {};
  const response = obj(r.responseElements) ?? {};

  const keys = new Set<string>();
  const keyIds = new Set<string>();
  const aliases = new Set<string>();
  const secrets = new Set<string>();
  const addKey = (v: unknown) => {
    const s = str(v);
    if (!s) return;
    if (KEY_ARN.test(s)) keys.add(s);
    else if (KEY_ID.test(s)) keyIds.add(s);
    else if (s.startsWith("alias/")) aliases.add(s.slice("alias/".length));
  };
  if (Array.isArray(r.resources)) {
    for (const res of r.resources) {
      const arn = str(obj(res)?.ARN);
      if (!arn) continue;
      if (KEY_ARN.test(arn)) keys.add(arn);
      else if (/:alias\//.test(arn)) aliases.add(arn.slice(arn.indexOf(":alias/") + ":alias/".length));
      else if (SECRET_ARN.test(arn)) secrets.add(secretName(arn));
    }
  }
  let tags: Record<string, string> | undefined;
  if (service === "kms") {
    addKey(params.keyId);
    addKey(params.targetKeyId);
    addKey(params.aliasName);
    addKey(obj(response.keyMetadata)?.arn);
    if (name === "CreateKey") tags = tagMap(params.tags, "tagKey", "tagValue");
  } else {
    for (const v of [params.secretId, params.name, response.arn, response.name]) {
      const s = str(v);
      if (s) secrets.add(secretName(s));
    }
    if (name === "CreateSecret" || name === "TagResource") tags = tagMap(params.tags, "key", "value") ?? tagMap(params.tags, "Key", "Value");
    if (TAGGED.has(name)) {
      const touched = name === "TagResource" ? Object.keys(tags ?? {}) : Array.isArray(params.tagKeys) ? params.tagKeys.map(String) : [];
      if (!touched.some((k) => k.startsWith("dropkeys:"))) return { skip: true };
    }
  }
  if (r.readOnly === true) return { skip: true };

  const who = identityOf(identity, str(r.sourceIPAddress));
  const change: ChangeEvent = {
    id,
    time,
    name,
    service,
    region: str(r.awsRegion) ?? "unknown",
    account: str(r.recipientAccountId) ?? str(identity.accountId) ?? "unknown",
    keys: [...keys],
    keyIds: [...keyIds],
    aliases: [...aliases],
    secrets: [...secrets],
    actor: who.principal,
    identityType: who.type,
  };
  if (who.session) change.session = who.session;
  const invokedBy = str(identity.invokedBy);
  if (invokedBy) change.invokedBy = invokedBy;
  else if (who.type === "AWSService" || r.eventType === "AwsServiceEvent") change.invokedBy = who.principal.replace(/^service:/, "");
  const errorCode = str(r.errorCode);
  if (errorCode) change.errorCode = errorCode;
  const token = str(params.clientRequestToken);
  if (token) change.token = token;
  if (tags) change.tags = tags;
  return { change };
}

/** The scanner's hook: keep the record's change when it falls inside the window. */
export function takeChange(result: FileResult, record: unknown, filter: ScanFilter): void {
  const parsed = parseChange(record);
  if ("skip" in parsed) return;
  if ("problem" in parsed) {
    result.badEvents++;
    result.badEventSample ??= parsed.problem;
    return;
  }
  if (parsed.change.time < filter.since || parsed.change.time > filter.until) return;
  (result.changes ??= []).push(parsed.change);
}

const SECRETS_NEEDLE = Buffer.from(SECRETS_SOURCE);

/** Whether a record's bytes can be a Secrets Manager event (the scanner pre-filters only for KMS). */
export function maybeSecretsManager(buf: Buffer, start: number, end: number): boolean {
  const record = buf.subarray(start, end);
  return record.includes(SECRETS_NEEDLE) || record.includes("\\u");
}
