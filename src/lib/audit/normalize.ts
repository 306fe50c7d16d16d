// One CloudTrail record (the documented format: userIdentity, eventTime, eventSource, eventName,
// resources[], errorCode, ...) -> an AuditEvent, or the reason it cannot be one.
import type { AuditEvent, EventClass, ScanFilter } from "./types.js";

export const KMS_SOURCE = "kms.amazonaws.com";

const USE = /^(Decrypt|Encrypt|GenerateDataKey\w*|ReEncrypt\w*|Sign)$/;
const MANAGEMENT = new Set([
  "ScheduleKeyDeletion",
  "DisableKey",
  "CancelKeyDeletion",
  "PutKeyPolicy",
  "CreateGrant",
  "EnableKey",
  "RevokeGrant",
  "RetireGrant",
  "EnableKeyRotation",
  "DisableKeyRotation",
  "RotateKeyOnDemand",
  "ImportKeyMaterial",
  "DeleteImportedKeyMaterial",
]);

export function classify(eventName: string): EventClass {
  if (USE.test(eventName)) return "use";
  if (MANAGEMENT.has(eventName)) return "management";
  return "other";
}

/**
 * Decrypt and the source side of a ReEncrypt read plaintext: only decryptRoles may. A ReEncrypt
 * whose source KMS's record does not reveal is the destination's encrypt side only.
 */
export function isDecryptSide(event: AuditEvent, keyArn: string): boolean {
  if (event.name === "Decrypt") return true;
  if (event.name.startsWith("ReEncrypt")) return event.sourceKey === keyArn;
  return false;
}

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const KEY_ID = /^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const ALIAS = /^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?alias\/(.+)$/;

const partitionOf = (region: string) => (region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws");

/**
 * A key reference of a request (keyId, sourceKeyId, destinationKeyId) -> key ARN: an ARN as it is;
 * a bare key id in the caller's account and the event's region (KMS accepts a key id only there);
 * an alias (name or alias ARN) through the aliases the audit knows, as it stood at the event's time.
 */
export function resolveKeyRef(ref: string, at: { region: string; account: string; time: number }, aliases: ScanFilter["aliases"]): string | undefined {
  if (KEY_ARN.test(ref)) return ref;
  if (KEY_ID.test(ref)) return /^\d{12}$/.test(at.account) ? `arn:${partitionOf(at.region)}:kms:${at.region}:${at.account}:key/${ref}` : undefined;
  const alias = ALIAS.exec(ref)?.[1];
  const targets = alias ? aliases?.[alias] : undefined;
  if (!targets?.length) return undefined;
  let found = targets[0]!.arn;
  for (const t of targets) if (t.from <= at.time) found = t.arn;
  return found;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

export type Normalized = { event: AuditEvent } | { problem: string } | { skip: "not-kms" };

/** A record from a trail file or LookupEvents' CloudTrailEvent. */
export function normalize(record: unknown, filter?: Pick<ScanFilter, "aliases">): Normalized {
  const r = obj(record);
  if (!r) return { problem: "a record that is not a JSON object" };
  // CloudTrail Insights events sit in Records too (a rate of Decrypt calls, not a call): not KMS events.
  if (r.eventType === "AwsCloudTrailInsight" || r.eventCategory === "Insight") return { skip: "not-kms" };
  if (r.eventSource !== KMS_SOURCE) return r.eventSource === undefined ? { problem: "an event without eventSource" } : { skip: "not-kms" };
  const id = str(r.eventID);
  const name = str(r.eventName);
  const timeText = str(r.eventTime);
  const time = timeText ? Date.parse(timeText) : NaN;
  if (!id) return { problem: "an event without eventID" };
  if (!name) return { problem: `event ${id} has no eventName` };
  if (Number.isNaN(time)) return { problem: `event ${id} has no valid eventTime` };
  const identity = obj(r.userIdentity);
  if (!identity) return { problem: `event ${id} has no userIdentity` };

  const identityAccount = str(identity.accountId);
  const sourceIp = str(r.sourceIPAddress);
  const { principal, session, via, type } = identityOf(identity, sourceIp);
  const region = str(r.awsRegion) ?? "unknown";

  // The key: resources[] first (what KMS itself resolved), else the request's references.
  const keys: string[] = [];
  if (Array.isArray(r.resources)) {
    for (const res of r.resources) {
      const resArn = str(obj(res)?.ARN);
      if (resArn && KEY_ARN.test(resArn) && !keys.includes(resArn)) keys.push(resArn);
    }
  }
  const fromResources = keys.length > 0;
  const params = obj(r.requestParameters);
  const at = { region, account: identityAccount ?? str(r.recipientAccountId) ?? "", time };
  const ref = (field: string) => {
    const text = str(params?.[field]);
    return text ? { text, arn: resolveKeyRef(text, at, filter?.aliases) } : undefined;
  };
  const keyId = ref("keyId");
  const source = name.startsWith("ReEncrypt") ? ref("sourceKeyId") : undefined;
  const destination = name.startsWith("ReEncrypt") ? ref("destinationKeyId") : undefined;
  let unresolvedKey: string | undefined;
  if (keys.length === 0) {
    for (const k of [keyId, source, destination]) {
      if (!k) continue;
      if (k.arn) {
        if (!keys.includes(k.arn)) keys.push(k.arn);
      } else unresolvedKey ??= k.text;
    }
  }
  let sourceKey: string | undefined;
  if (name.startsWith("ReEncrypt")) {
    if (source?.arn && keys.includes(source.arn)) sourceKey = source.arn;
    // resources[] names source and destination: the source is the one that is not the destination
    // (sourceKeyId is optional and often absent); AWS lists the source first when nothing says.
    else if (keys.length === 2) sourceKey = destination?.arn === keys[0] ? keys[1] : keys[0];
    // One key in resources[]: re-encrypted under the same key.
    else if (keys.length === 1 && fromResources) sourceKey = keys[0];
    if (!sourceKey) unresolvedKey ??= source?.text ?? "(ReEncrypt source key not named)";
  }

  const event: AuditEvent = {
    id,
    time,
    name,
    region,
    account: str(r.recipientAccountId) ?? identityAccount ?? "unknown",
    keys,
    principal,
    identityType: type,
  };
  if (session) event.session = session;
  if (via) event.via = via;
  if (sourceIp) event.sourceIp = sourceIp;
  const errorCode = str(r.errorCode);
  if (errorCode) event.errorCode = errorCode;
  if (sourceKey) event.sourceKey = sourceKey;
  if (unresolvedKey) event.unresolvedKey = unresolvedKey;
  return { event };
}

/** Who made a call: the role behind a session, else the caller's ARN, else the AWS service. */
export function identityOf(identity: Json, sourceIp: string | undefined): { principal: string; session?: string; via?: string; type: string } {
  const type = str(identity.type) ?? "unknown";
  const issuer = str(obj(obj(identity.sessionContext)?.sessionIssuer)?.arn);
  const arn = str(identity.arn);
  const invokedBy = str(identity.invokedBy);
  let principal: string;
  if (issuer) principal = issuer;
  else if (arn) principal = arn;
  // Another account calling (cross-account): CloudTrail names the account, not who in it.
  else if (type === "AWSAccount" && str(identity.accountId)) principal = `AWSAccount:${str(identity.accountId)}`;
  else if (type === "AWSService" || invokedBy) principal = `service:${invokedBy ?? sourceIp ?? "unknown"}`;
  else principal = str(identity.principalId) ? `${type}:${String(identity.principalId)}` : "unknown";
  // A service acting for a principal names itself in invokedBy or, for some services, as the source "IP".
  const via = principal.startsWith("service:") ? undefined : (invokedBy ?? (sourceIp?.endsWith(".amazonaws.com") ? sourceIp : undefined));
  return { principal, type, ...(arn && arn !== principal ? { session: arn } : {}), ...(via ? { via } : {}) };
}

/**
 * Whether an event is inside the window and touches a key in scope. An event naming a key that
 * cannot be resolved is always kept: it is counted (and listed under --all-keys), never dropped.
 */
export function inScope(event: AuditEvent, filter: ScanFilter, keySet: Set<string> | null): boolean {
  if (event.time < filter.since || event.time > filter.until) return false;
  if (event.unresolvedKey !== undefined) return true;
  if (event.keys.length === 0) return filter.keepKeyless && event.errorCode !== undefined;
  if (!keySet) return true;
  return event.keys.some((k) => keySet.has(k));
}
