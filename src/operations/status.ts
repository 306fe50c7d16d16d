// `dropkeys status`: for every inventory entry held in AWS, its state, rotation, last rotation,
// next due date and whether it is overdue, evaluated at a given time (default now).
import { DescribeKeyCommand, GetKeyRotationStatusCommand, ListKeyRotationsCommand } from "@aws-sdk/client-kms";
import { ListSecretVersionIdsCommand } from "@aws-sdk/client-secrets-manager";
import type { Context } from "../lib/context.js";
import { awsErrorName } from "../lib/errors.js";
import { awsEntries, regionOf } from "../lib/policy/load.js";
import type { InventoryEntry, KmsKeyEntry } from "../lib/policy/schema.js";
import { awsFailure, describeKmsKey, describeSecret } from "../lib/targets.js";
import { formatLocal } from "../lib/time.js";
import { sourceKeysLeftEnabled } from "../lib/reencrypt/source-key.js";
import { driftStatusLines, keyPolicyDrift, type KeyPolicyDrift } from "../lib/keys/drift.js";
import type { KeyPolicyDiff } from "../lib/keys/key-policy.js";
import { certificateStatuses, type CertificateStatus } from "../lib/certs/status.js";
import { explainKeyState, explainOnDemandRotations, explainSecretVersion, type Explained } from "./status-explain.js";

const DAY = 86_400_000;

export type Health = "ok" | "overdue" | "missing" | "unexpected-state" | "not-required" | "explained";

export interface EntryStatus {
  name: string;
  kind: InventoryEntry["kind"];
  region: string;
  classification?: string | undefined;
  /** KMS key state, "Active" for a secret, or "missing". */
  state: string;
  arn?: string | undefined;
  rotation: { policy: string; automatic?: boolean | undefined; periodDays?: number | undefined };
  lastRotated?: string | undefined;
  /** Where lastRotated came from: rotation history, key creation, current secret version. */
  lastRotatedSource?: string | undefined;
  nextDue?: string | undefined;
  overdueSince?: string | undefined;
  health: Health;
  /** Why the state is what it is, when the journal explains it (health "explained"). */
  explanation?: string | undefined;
  problems: string[];
  notes: string[];
  /** A JWT rotation whose overlap has not ended yet (the secret's dropkeys:overlap-ends tag). */
  rotationInProgress?: { overlapEnds: string } | undefined;
  /** KMS keys: the key policy in AWS against the role bindings (keys/drift.ts). */
  keyPolicy?: ({ inSync: boolean; managed: boolean } & KeyPolicyDiff) | undefined;
}

export interface StatusReport {
  at: string;
  entries: EntryStatus[];
  /** Compromised source keys that `reencrypt --reenable-source` enabled and that are still Enabled (a killed run). */
  sourceKeysLeftEnabled: { keyId: string; arn?: string | undefined; region: string; since: string }[];
  /** Entries the policy tracks outside AWS (data keys, certificates without `check`): listed, not checked. */
  external: string[];
  /** Certificates with a `check` (certs/status.ts): expiry against the policy's lead time. */
  certificates: CertificateStatus[];
  findings: number;
}

export async function collectStatus(ctx: Context, at: Date): Promise<StatusReport> {
  const entries = await Promise.all(awsEntries(ctx.policy).map((entry) => entryStatus(ctx, entry, at)));
  await addKeyPolicyDrift(ctx, entries);
  const certificates = await certificateStatuses(ctx, at);
  const external = ctx.policy.inventory.filter((e) => !awsEntries(ctx.policy).includes(e) && !certificates.some((c) => c.name === e.name)).map((e) => e.name);
  const sourceKeys = await sourceKeysStillEnabled(ctx);
  const findings = entries.filter((e) => e.health !== "ok" && e.health !== "not-required" && e.health !== "explained").length + sourceKeys.length + certificates.filter((c) => c.health !== "ok").length;
  return { at: at.toISOString(), entries, external, certificates, sourceKeysLeftEnabled: sourceKeys, findings };
}

/** The journal says a reencrypt enabled these keys and never disabled them again; KMS says whether they still are. */
async function sourceKeysStillEnabled(ctx: Context): Promise<StatusReport["sourceKeysLeftEnabled"]> {
  const left = sourceKeysLeftEnabled(ctx.journal().entries());
  const still = await Promise.all(
    left.map(async (k) => {
      const region = k.arn?.split(":")[3] || ctx.policy.region;
      try {
        const out = await ctx.aws.kms(region).send(new DescribeKeyCommand({ KeyId: k.keyId }));
        return out.KeyMetadata?.KeyState === "Enabled" ? { keyId: k.keyId, arn: k.arn, region, since: k.since } : undefined;
      } catch (error) {
        if (awsErrorName(error) === "NotFoundException") return undefined;
        throw awsFailure(error, `DescribeKey ${k.keyId} in ${region}`);
      }
    }),
  );
  return still.filter((k) => k !== undefined);
}

async function entryStatus(ctx: Context, entry: InventoryEntry, at: Date): Promise<EntryStatus> {
  const base: EntryStatus = {
    name: entry.name,
    kind: entry.kind,
    region: regionOf(ctx.policy, entry),
    classification: entry.classification,
    state: "missing",
    rotation: { policy: entry.rotation.label },
    health: "ok",
    problems: [],
    notes: [],
  };
  const status = entry.kind === "kms-key" ? await kmsStatus(ctx, entry, base, at) : await secretStatus(ctx, entry, base, at);
  if (status.state === "missing") {
    // Phase-2 entries are planned, not yet required.
    status.health = entry.phase && entry.phase > 1 ? "not-required" : "missing";
    if (status.health === "missing") status.problems.push(`not found in ${status.region}`);
  }
  return status;
}

async function kmsStatus(ctx: Context, entry: Extract<InventoryEntry, { kind: "kms-key" }>, status: EntryStatus, at: Date): Promise<EntryStatus> {
  const { key } = await describeKmsKey(ctx, { entry, name: entry.name, region: status.region });
  if (!key) return status;
  status.state = key.KeyState ?? "Unknown";
  status.arn = key.Arn;
  const why = explainKeyState(journalEntries(ctx), { arn: key.Arn ?? "", state: key.KeyState ?? "Unknown", deletionDate: key.DeletionDate });
  if (why) applyExplanation(status, why);
  else if (key.KeyState !== "Enabled") {
    status.health = "unexpected-state";
    status.problems.push(key.DeletionDate ? `${key.KeyState}, deletion on ${key.DeletionDate.toISOString()}` : `${key.KeyState}`);
  }
  const kms = ctx.aws.kms(status.region);
  const keyId = key.KeyId!;
  let nextRotation: Date | undefined;
  if (key.KeySpec === "SYMMETRIC_DEFAULT") {
    try {
      const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
      status.rotation.automatic = rotation.KeyRotationEnabled ?? false;
      status.rotation.periodDays = rotation.RotationPeriodInDays;
      nextRotation = rotation.NextRotationDate;
    } catch (error) {
      if (awsErrorName(error) !== "KMSInvalidStateException") throw awsFailure(error, `GetKeyRotationStatus ${entry.name}`);
    }
  }
  if (entry.rotationMode === "automatic" && status.rotation.automatic === false) {
    status.problems.push("automatic rotation is off, the policy requires it");
    if (status.health === "ok") status.health = "unexpected-state";
  }
  let last: Date | undefined;
  try {
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    for (const r of rotations.Rotations ?? []) if (r.RotationDate && (!last || r.RotationDate > last)) last = r.RotationDate;
    if (last) status.lastRotatedSource = "rotation history";
    const onDemand = explainOnDemandRotations(journalEntries(ctx), key.Arn ?? "", (rotations.Rotations ?? []).filter((r) => r.RotationType === "ON_DEMAND").map((r) => r.RotationDate!).filter(Boolean));
    if (onDemand) applyExplanation(status, onDemand);
  } catch (error) {
    // Not every KMS implementation has ListKeyRotations (local-kms does not); fall back to creation.
    status.notes.push(`rotation history unavailable (${awsErrorName(error) ?? "error"})`);
  }
  if (!last && key.CreationDate) {
    last = key.CreationDate;
    status.lastRotatedSource = "key created";
  }
  applyDueDate(status, entry, last, at, status.rotation.automatic ? nextRotation : undefined);
  return status;
}

async function secretStatus(ctx: Context, entry: InventoryEntry, status: EntryStatus, at: Date): Promise<EntryStatus> {
  const { secret } = await describeSecret(ctx, { entry, name: entry.name, region: status.region });
  if (!secret) return status;
  status.arn = secret.ARN;
  status.state = secret.DeletedDate ? "PendingDeletion" : "Active";
  if (secret.DeletedDate) {
    status.health = "unexpected-state";
    status.problems.push(`scheduled for deletion (${secret.DeletedDate.toISOString()})`);
  }
  // Current version's creation = when the value in use was set.
  let current: Date | undefined;
  try {
    const versions = await ctx.aws.secrets(status.region).send(new ListSecretVersionIdsCommand({ SecretId: entry.name, IncludeDeprecated: false }));
    const version = versions.Versions?.find((v) => v.VersionStages?.includes("AWSCURRENT"));
    current = version?.CreatedDate;
    const why = explainSecretVersion(journalEntries(ctx), { name: entry.name, currentVersion: version?.VersionId, currentCreated: current });
    if (why) applyExplanation(status, why);
  } catch (error) {
    throw awsFailure(error, `ListSecretVersionIds ${entry.name}`);
  }
  const last = current ?? secret.LastRotatedDate ?? secret.CreatedDate;
  status.lastRotatedSource = current ? "current version created" : "secret created";
  for (const tag of secret.Tags ?? []) {
    if (tag.Key === "dropkeys:overlap-ends" && tag.Value) {
      const ends = new Date(tag.Value);
      if (ends > at) {
        status.rotationInProgress = { overlapEnds: ends.toISOString() };
        status.notes.push(`rotation in progress, overlap ends ${formatLocal(ends)}`);
      }
    }
  }
  applyDueDate(status, entry, last, at, undefined);
  return status;
}

/** The journal's entries; an unreadable journal explains nothing (log verify reports it). */
function journalEntries(ctx: Context): ReturnType<ReturnType<Context["journal"]>["entries"]> {
  try {
    return ctx.journal().entries();
  } catch {
    return [];
  }
}

function applyExplanation(status: EntryStatus, why: NonNullable<Explained>): void {
  if ("explained" in why) {
    if (status.health === "ok") status.health = "explained";
    status.explanation = why.explained;
    status.notes.push(why.explained);
  } else {
    status.health = "unexpected-state";
    status.problems.push(why.outside);
  }
}

function applyDueDate(status: EntryStatus, entry: InventoryEntry, last: Date | undefined, at: Date, kmsNext: Date | undefined): void {
  if (last) status.lastRotated = last.toISOString();
  const days = entry.rotation.days;
  if (days === null || !last) return;
  const due = kmsNext ?? new Date(last.getTime() + days * DAY);
  status.nextDue = due.toISOString();
  const overdueFrom = new Date(due.getTime() + entry.overdueAfterDays * DAY);
  if (at >= overdueFrom) {
    status.overdueSince = due.toISOString();
    status.problems.push(`rotation overdue by ${Math.floor((at.getTime() - due.getTime()) / DAY)} days (due ${due.toISOString().slice(0, 10)})`);
    status.health = "overdue";
  }
}

/** `status`: each KMS key found in AWS gets its drift (a problem for managed keys, a note otherwise). */
async function addKeyPolicyDrift(ctx: Context, statuses: EntryStatus[]): Promise<void> {
  await Promise.all(
    statuses.map(async (status) => {
      const entry = ctx.policy.inventory.find((e): e is KmsKeyEntry => e.kind === "kms-key" && e.name === status.name);
      if (!entry || !status.arn || status.state === "PendingDeletion") return;
      let drift: KeyPolicyDrift;
      try {
        drift = await keyPolicyDrift(ctx, entry, status.region, status.arn.split("/").pop()!, status.arn);
      } catch (error) {
        // One unreadable key policy (no kms:GetKeyPolicy) must not cost the whole status report.
        status.notes.push(`key policy not compared: ${(error as Error).message}`);
        return;
      }
      status.keyPolicy = { inSync: drift.inSync, managed: drift.managed, ...drift.diff };
      const lines = driftStatusLines(status.name, drift);
      status.problems.push(...lines.problems);
      status.notes.push(...lines.notes);
      if (lines.problems.length && (status.health === "ok" || status.health === "explained")) status.health = "unexpected-state";
    }),
  );
}
