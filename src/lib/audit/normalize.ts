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

/** Decrypt and the source side of a ReEncrypt read plaintext: only decryptRoles may. */
export function isDecryptSide(event: AuditEvent, keyArn: string): boolean {
  if (event.name === "Decrypt") return true;
  if (event.name.startsWith("ReEncrypt")) return event.sourceKey === undefined || event.sourceKey === keyArn;
  return false;
}

const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

export type Normalized = { event: AuditEvent } | { problem: string } | { skip: "not-kms" };

/** A record from a trail file or LookupEvents' CloudTrailEvent. */
export function normalize(record: unknown): Normalized {
  const r = obj(record);
  if (!r) return { problem: "a record that is not a JSON object" };
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

  const keys: string[] = [];
  if (Array.isArray(r.resources)) {
    for (const res of r.resources) {
      const arn = str(obj(res)?.ARN);
      if (arn && KEY_ARN.test(arn) && !keys.includes(arn)) keys.push(arn);
    }
  }
  const params = obj(r.requestParameters);
  // Older and service-made events may lack resources; a full key ARN in the request still names the key.
  const requested = str(params?.keyId);
  if (keys.length === 0 && requested && KEY_ARN.test(requested)) keys.push(requested);

  const sourceIp = str(r.sourceIPAddress);
  const { principal, session, via, type } = identityOf(identity, sourceIp);

  const event: AuditEvent = {
    id,
    time,
    name,
    region: str(r.awsRegion) ?? "unknown",
    account: str(r.recipientAccountId) ?? str(identity.accountId) ?? "unknown",
    keys,
    principal,
    identityType: type,
  };
  if (session) event.session = session;
  if (via) event.via = via;
  if (sourceIp) event.sourceIp = sourceIp;
  const errorCode = str(r.errorCode);
  if (errorCode) event.errorCode = errorCode;
  if (name.startsWith("ReEncrypt")) {
    const source = str(params?.sourceKeyId);
    if (source && keys.includes(source)) event.sourceKey = source;
  }
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
  else if (type === "AWSService" || invokedBy) principal = `service:${invokedBy ?? sourceIp ?? "unknown"}`;
  else principal = str(identity.principalId) ? `${type}:${String(identity.principalId)}` : "unknown";
  // A service acting for a principal names itself in invokedBy or, for some services, as the source "IP".
  const via = principal.startsWith("service:") ? undefined : (invokedBy ?? (sourceIp?.endsWith(".amazonaws.com") ? sourceIp : undefined));
  return { principal, type, ...(arn && arn !== principal ? { session: arn } : {}), ...(via ? { via } : {}) };
}

/** Whether an event is inside the window and touches a key in scope. */
export function inScope(event: AuditEvent, filter: ScanFilter, keySet: Set<string> | null): boolean {
  if (event.time < filter.since || event.time > filter.until) return false;
  if (event.keys.length === 0) return filter.keepKeyless && event.errorCode !== undefined;
  if (!keySet) return true;
  return event.keys.some((k) => keySet.has(k));
}
