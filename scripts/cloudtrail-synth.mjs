// CloudTrail records of key and secret changes, for the tests and the drill. The emulators record
// no events (moto has no CloudTrail event history), so these are written from what really happened
// against them: the journal of a real run (each approved operation's calls between its intent and
// outcome) and the SDK calls a test or the drill makes around dropkeys. The record shapes follow
// AWS's "CloudTrail record contents" and the KMS / Secrets Manager log examples: userIdentity of
// IAMUser, AssumedRole (sessionContext.sessionIssuer) or AWSService (invokedBy), requestParameters
// and responseElements per event name, errorCode/errorMessage and null responseElements on refusals.
import { randomUUID, createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

/** The identity an STS caller ARN stands for: IAMUser for user/..., AssumedRole for assumed-role/ROLE/SESSION. */
export function identityFor(callerArn, { invokedBy } = {}) {
  const m = /^arn:aws:(?:sts|iam)::(\d{12}):(user|assumed-role)\/([^/]+)(?:\/(.+))?$/.exec(callerArn ?? "");
  const account = m?.[1] ?? "123456789012";
  if (m && m[2] === "assumed-role") {
    const [role, session] = [m[3], m[4] ?? "session"];
    return {
      type: "AssumedRole",
      principalId: `AROA${hex(callerArn, 16).toUpperCase()}:${session}`,
      arn: `arn:aws:sts::${account}:assumed-role/${role}/${session}`,
      accountId: account,
      accessKeyId: `ASIA${hex(session, 16).toUpperCase()}`,
      sessionContext: {
        sessionIssuer: { type: "Role", principalId: `AROA${hex(role, 16).toUpperCase()}`, arn: `arn:aws:iam::${account}:role/${role}`, accountId: account, userName: role },
        webIdFederationData: {},
        attributes: { creationDate: "2026-12-01T08:00:00Z", mfaAuthenticated: "true" },
      },
      ...(invokedBy ? { invokedBy } : {}),
    };
  }
  const user = m?.[3] ?? "unknown";
  return {
    type: "IAMUser",
    principalId: `AIDA${hex(user, 16).toUpperCase()}`,
    arn: `arn:aws:iam::${account}:user/${user}`,
    accountId: account,
    accessKeyId: `AKIA${hex(user, 16).toUpperCase()}`,
    userName: user,
    ...(invokedBy ? { invokedBy } : {}),
  };
}

/** AWS acting as itself (KMS's automatic rotation, Secrets Manager's rotation schedule). */
export function awsServiceIdentity(service) {
  return { type: "AWSService", invokedBy: service };
}

function hex(text, n) {
  return createHash("sha256").update(String(text)).digest("hex").slice(0, n);
}

const KMS_ARN = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** KMS writes dates in responseElements as "Dec 9, 2026, 12:00:00 AM". */
function kmsDate(ms) {
  const d = new Date(ms);
  const h = d.getUTCHours() % 12 || 12;
  const pad = (n) => String(n).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}, ${h}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? "AM" : "PM"}`;
}

/**
 * One CloudTrail record of a change. `target`: { keyArn } for KMS, { secretArn } for Secrets
 * Manager; `extra`: requestParameters/responseElements beyond the defaults of the event name.
 */
export function changeRecord({ name, time, identity, keyArn, aliasName, secretArn, secretName, region, params = {}, response, errorCode, errorMessage, eventType }) {
  const kms = Boolean(keyArn || aliasName) && !secretArn;
  const account = (keyArn ? KMS_ARN.exec(keyArn)?.[2] : secretArn?.split(":")[4]) ?? identity.accountId ?? "123456789012";
  const awsRegion = region ?? (keyArn ? KMS_ARN.exec(keyArn)?.[1] : secretArn?.split(":")[3]) ?? "eu-north-1";
  const keyId = keyArn ? KMS_ARN.exec(keyArn)?.[3] : undefined;
  const sName = secretName ?? secretArn?.split(":")[6]?.replace(/-[A-Za-z0-9]{6}$/, "");
  let requestParameters;
  let responseElements = null;
  const resources = [];
  if (kms) {
    if (keyArn) resources.push({ accountId: account, type: "AWS::KMS::Key", ARN: keyArn });
    switch (name) {
      case "CreateKey":
        requestParameters = { keyUsage: "ENCRYPT_DECRYPT", keySpec: "SYMMETRIC_DEFAULT", bypassPolicyLockoutSafetyCheck: false, ...params };
        responseElements = {
          keyMetadata: {
            aWSAccountId: account, keyId, arn: keyArn, creationDate: kmsDate(Date.parse(time)), enabled: true, description: params.description ?? "",
            keyUsage: "ENCRYPT_DECRYPT", keyState: "Enabled", origin: "AWS_KMS", keyManager: "CUSTOMER", customerMasterKeySpec: "SYMMETRIC_DEFAULT",
            keySpec: "SYMMETRIC_DEFAULT", encryptionAlgorithms: ["SYMMETRIC_DEFAULT"], multiRegion: false,
          },
        };
        break;
      case "CreateAlias":
      case "UpdateAlias":
      case "DeleteAlias":
        requestParameters = { aliasName: `alias/${aliasName}`, ...(name === "DeleteAlias" ? {} : { targetKeyId: keyId }), ...params };
        resources.unshift({ accountId: account, type: "AWS::KMS::Key", ARN: `arn:aws:kms:${awsRegion}:${account}:alias/${aliasName}` });
        break;
      case "ScheduleKeyDeletion": {
        const days = params.pendingWindowInDays ?? 30;
        requestParameters = { keyId, pendingWindowInDays: days };
        responseElements = { keyId: keyArn, deletionDate: kmsDate(Date.parse(time) + days * 86_400_000), keyState: "PendingDeletion", pendingWindowInDays: days };
        break;
      }
      case "CancelKeyDeletion":
        requestParameters = { keyId };
        responseElements = { keyId: keyArn };
        break;
      case "RotateKeyOnDemand":
        requestParameters = { keyId };
        responseElements = { keyId };
        break;
      case "EnableKeyRotation":
        requestParameters = { keyId, rotationPeriodInDays: 365, ...params };
        break;
      case "CreateGrant":
        requestParameters = { keyId, granteePrincipal: params.granteePrincipal ?? `arn:aws:iam::${account}:role/grantee`, operations: params.operations ?? ["Decrypt"] };
        responseElements = { grantId: hex(time, 64), keyId: keyArn };
        break;
      default:
        requestParameters = { keyId, ...params };
    }
  } else {
    const secretId = secretArn ?? sName;
    switch (name) {
      case "CreateSecret":
        requestParameters = { name: sName, clientRequestToken: params.clientRequestToken, description: params.description ?? "", tags: params.tags ?? [] };
        responseElements = { arn: secretArn, name: sName, versionId: params.clientRequestToken };
        break;
      case "PutSecretValue":
        requestParameters = { secretId, clientRequestToken: params.clientRequestToken, versionStages: params.versionStages ?? ["AWSCURRENT"] };
        responseElements = { arn: secretArn, name: sName, versionId: params.clientRequestToken, versionStages: params.versionStages ?? ["AWSCURRENT"] };
        break;
      case "UpdateSecretVersionStage":
        requestParameters = { secretId, versionStage: params.versionStage ?? "AWSCURRENT", ...params };
        responseElements = { arn: secretArn, name: sName };
        break;
      case "DeleteSecret":
        requestParameters = { secretId, recoveryWindowInDays: params.recoveryWindowInDays ?? 30 };
        responseElements = { arn: secretArn, name: sName, deletionDate: kmsDate(Date.parse(time) + (params.recoveryWindowInDays ?? 30) * 86_400_000) };
        break;
      default:
        requestParameters = { secretId, ...params };
        if (name === "RestoreSecret") responseElements = { arn: secretArn, name: sName };
    }
  }
  if (response !== undefined) responseElements = response;
  const refused = Boolean(errorCode);
  const who = identity.arn ?? identity.invokedBy;
  return {
    eventVersion: "1.09",
    userIdentity: identity,
    eventTime: time,
    eventSource: kms ? "kms.amazonaws.com" : "secretsmanager.amazonaws.com",
    eventName: name,
    awsRegion,
    sourceIPAddress: identity.type === "AWSService" ? identity.invokedBy : identity.invokedBy ?? "198.51.100.23",
    userAgent: identity.type === "AWSService" ? identity.invokedBy : identity.invokedBy ?? "aws-sdk-js/3.1164.0 ua/2.1 os/linux#6.8 lang/js md/nodejs#20.18.0 api/kms#3.1164.0",
    ...(refused ? { errorCode, errorMessage: errorMessage ?? `User: ${who} is not authorized to perform: ${kms ? "kms" : "secretsmanager"}:${name}` } : {}),
    requestParameters,
    responseElements: refused ? null : responseElements,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    ...(resources.length ? { resources } : {}),
    eventType: eventType ?? "AwsApiCall",
    managementEvent: true,
    recipientAccountId: account,
    eventCategory: "Management",
    ...(identity.type === "AWSService" ? {} : { tlsDetails: { tlsVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", clientProvidedHostHeader: `${kms ? "kms" : "secretsmanager"}.${awsRegion}.amazonaws.com` } }),
  };
}

/** The token rotate-jwt derives from its request id (as src/lib/jwt/rotation.ts versionTokenFor). */
function rotateToken(requestId) {
  const h = createHash("sha256").update(`dropkeys rotate-jwt\n${requestId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The calls AWS recorded for the journal's approved operations on keys and secrets: each between
 * its intent and its outcome, made by the journal's actor. `shiftMs(i)` moves the i-th event's time
 * (a skewed clock); default none.
 */
export function recordsFromJournal(entries, { shiftMs = () => 0 } = {}) {
  const outcomes = new Map(entries.filter((e) => e.type === "outcome" && e.intentSeq).map((e) => [e.intentSeq, e]));
  const records = [];
  let i = 0;
  for (const intent of entries) {
    if (intent.type !== "intent") continue;
    const outcome = outcomes.get(intent.seq);
    if (!outcome || outcome.outcome !== "succeeded" || !intent.target) continue;
    const start = Date.parse(intent.time);
    const end = Date.parse(outcome.time);
    const identity = identityFor(intent.actor.aws);
    const t = outcome.target ?? intent.target;
    const calls = callsOf(intent, outcome, entries);
    calls.forEach((call, n) => {
      const at = start + ((end - start) * (n + 1)) / (calls.length + 1) + shiftMs(i++);
      records.push(changeRecord({ identity, time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"), keyArn: call.keyArn ?? t.arn, region: t.region, ...call }));
    });
  }
  return records;
}

function callsOf(intent, outcome, entries) {
  const t = outcome.target ?? intent.target;
  const secret = t.kind === "secret" || t.kind === "signing-key";
  const secretArn = t.arn ?? outcome.details?.arn;
  switch (intent.operation) {
    case "generate":
      if (secret) return [{ name: "CreateSecret", secretArn, keyArn: undefined, params: { clientRequestToken: intent.requestId, tags: [{ key: "ManagedBy", value: "dropkeys" }] } }];
      return [
        { name: "CreateKey", keyArn: t.arn, params: { description: `${t.name}`, tags: [{ tagKey: "Name", tagValue: t.name }, { tagKey: "ManagedBy", tagValue: "dropkeys" }] } },
        { name: outcome.details?.previousKeyId ? "UpdateAlias" : "CreateAlias", keyArn: t.arn, aliasName: t.name },
        ...(outcome.details?.rotationPeriodDays ? [{ name: "EnableKeyRotation", keyArn: t.arn }] : []),
      ];
    case "disable":
    case "reencrypt-disable-source":
      return [{ name: "DisableKey" }];
    case "enable":
    case "reencrypt-enable-source":
      return [{ name: "EnableKey" }];
    case "rotate-key":
      return [{ name: "RotateKeyOnDemand" }];
    case "schedule-deletion":
      return secret ? [{ name: "DeleteSecret", secretArn, keyArn: undefined }] : [{ name: "ScheduleKeyDeletion", params: { pendingWindowInDays: intent.params?.days ?? 30 } }];
    case "cancel-deletion":
      return secret ? [{ name: "RestoreSecret", secretArn, keyArn: undefined }] : [{ name: "CancelKeyDeletion" }];
    case "rotate-jwt": {
      const steps = entries.filter((e) => e.type === "event" && e.requestId === intent.requestId && e.operation === "rotate-jwt").map((e) => e.details?.step);
      const sm = { secretArn, keyArn: undefined };
      return [
        ...(steps.includes("pending") ? [{ name: "PutSecretValue", ...sm, params: { clientRequestToken: rotateToken(intent.requestId), versionStages: ["AWSPENDING"] } }] : []),
        { name: "TagResource", ...sm, params: { tags: [{ key: "dropkeys:rotation-new", value: outcome.details?.newVersion ?? "" }] } },
        { name: "UpdateSecretVersionStage", ...sm, params: { versionStage: "AWSCURRENT", moveToVersionId: outcome.details?.newVersion, removeFromVersionId: outcome.details?.oldVersion } },
        { name: "UpdateSecretVersionStage", ...sm, params: { versionStage: "AWSPENDING", removeFromVersionId: outcome.details?.newVersion } },
      ];
    }
    case "rotate-jwt-finish":
      return [{ name: "UpdateSecretVersionStage", secretArn, keyArn: undefined, params: { versionStage: "AWSPREVIOUS", removeFromVersionId: outcome.details?.retired } }];
    default:
      return [];
  }
}

/** Write records as a trail delivers them: AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/..._CloudTrail_REGION_STAMP_ID.json.gz, one file per region and 5 minutes. */
export function writeArchive(root, records) {
  const groups = new Map();
  for (const r of records) {
    const slot = Math.floor(Date.parse(r.eventTime) / 300_000) * 300_000 + 300_000;
    const key = `${r.recipientAccountId}|${r.awsRegion}|${slot}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const files = [];
  for (const [key, group] of groups) {
    const [account, region, slot] = key.split("|");
    const d = new Date(Number(slot));
    const folder = path.join(root, "AWSLogs", account, "CloudTrail", region, ...d.toISOString().slice(0, 10).split("-"));
    mkdirSync(folder, { recursive: true });
    const stamp = d.toISOString().replace(/[-:]/g, "").slice(0, 13) + "Z";
    const file = path.join(folder, `${account}_CloudTrail_${region}_${stamp}_${randomUUID().replaceAll("-", "").slice(0, 16)}.json.gz`);
    writeFileSync(file, gzipSync(JSON.stringify({ Records: group })));
    files.push(file);
  }
  return files;
}

/** Every file under `dir`, as [key relative to dir (with /), bytes]: for uploading an archive to S3. */
export function archiveObjects(dir) {
  const out = [];
  const walk = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push([path.relative(dir, full).split(path.sep).join("/"), readFileSync(full)]);
    }
  };
  walk(dir);
  return out;
}

/** The journal's entries from its directory. */
export function readJournal(dir) {
  return readFileSync(path.join(dir, "internkontroll.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
