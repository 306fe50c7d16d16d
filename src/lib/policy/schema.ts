// The policy file's shape. POLICY.md is the source; this is the one place that says what a
// valid policy looks like, so the inventory stays data: a team adds a key without a release.
import { z } from "zod";
import { parseDuration } from "../duration.js";
import { databaseSchema } from "./database-section.js";

const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** A duration written as "24h", "5m", "30d", or a number of seconds; parsed to milliseconds. */
export const durationSchema = z.union([z.number().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === "number") return value * 1000;
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as "5m", "24h" or "30d", got "${value}"` });
    return z.NEVER;
  }
  return ms;
});

const ROTATION_WORDS = { annual: 365, quarterly: 91, monthly: 30 } as const;

/**
 * How often a key must be rotated. "annual", "quarterly", "monthly" or a number of days have a
 * due date; "on-compromise" and "provider" do not, so `status` never calls them overdue.
 */
export const rotationSchema = z
  .union([z.number().int().positive(), z.string()])
  .transform((value, ctx): { label: string; days: number | null } => {
    if (typeof value === "number") return { label: `${value} days`, days: value };
    if (value in ROTATION_WORDS) return { label: value, days: ROTATION_WORDS[value as keyof typeof ROTATION_WORDS] };
    if (value === "on-compromise" || value === "provider" || value === "none") return { label: value, days: null };
    ctx.addIssue({
      code: "custom",
      message: `expected "annual", "quarterly", "monthly", "on-compromise", "provider" or a number of days, got "${value}"`,
    });
    return z.NEVER;
  });

const classificationSchema = z.enum(["L1", "L2", "L3", "L4"], {
  error: () => 'expected "L1", "L2", "L3" or "L4"',
});

const commonEntry = {
  name: z.string().min(1).regex(/^[A-Za-z0-9_./-]+$/, "expected letters, digits, '_', '-', '.' or '/'"),
  description: z.string().optional(),
  classification: classificationSchema.optional(),
  owner: z.string().default("security"),
  purpose: z.string().default(""),
  protects: z.string().optional(),
  region: z.string().regex(AWS_REGION, "expected an AWS region such as eu-north-1").optional(),
  rotation: rotationSchema,
  /** Days past the due date before a rotation counts as overdue (POLICY.md §1 "alert"). */
  overdueAfterDays: z.number().int().nonnegative().default(7),
  /** A key under litigation hold needs Legal's approval to destroy (POLICY.md §3). */
  litigationHold: z.boolean().default(false),
  phase: z.number().int().positive().optional(),
};

const kmsKeyEntry = z.object({
  ...commonEntry,
  kind: z.literal("kms-key"),
  keySpec: z
    .enum(["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "HMAC_256"])
    .default("SYMMETRIC_DEFAULT"),
  keyUsage: z.enum(["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"]).default("ENCRYPT_DECRYPT"),
  rotationMode: z.enum(["automatic", "manual"]).default("automatic"),
  /** Roles (from `roles`) whose principals may use the key for Decrypt / data keys (purpose binding). */
  decryptRoles: z.array(z.string()).default([]),
  /** Roles whose principals may Encrypt / GenerateDataKey but not Decrypt. */
  encryptRoles: z.array(z.string()).default([]),
  /** Use outside business hours raises an alert (POLICY.md §8). */
  offHoursAlert: z.boolean().default(false),
});

const secretEntry = z.object({
  ...commonEntry,
  kind: z.literal("secret"),
  /** Random bytes to generate; absent for secrets whose value comes from a provider (BankID, Sentry). */
  bytes: z.number().int().min(32, "expected at least 32 bytes (256 bits)").optional(),
  encoding: z.enum(["hex", "base64", "base64url"]).default("hex"),
  /** Who supplies the value: "generated" (dropkeys makes it) or "provider" (put there by hand). */
  source: z.enum(["generated", "provider"]).default("generated"),
});

const signingKeyEntry = z.object({
  ...commonEntry,
  kind: z.literal("signing-key"),
  algorithm: z.enum(["Ed25519", "RSA-4096"]).default("Ed25519"),
});

/** Keys the policy tracks but that are not held in AWS (certificates, per-record data keys). */
const externalEntry = z.object({
  ...commonEntry,
  kind: z.enum(["certificate", "data-key"]),
  algorithm: z.string().optional(),
  location: z.string().optional(),
  /** Certificates: where `status` reads it: "tls://host:port", "file:PATH" (PEM) or "acm:ARN". */
  check: z.string().regex(/^(tls:\/\/.+:\d+|file:.+|acm:arn:.+)$/, 'expected "tls://host:port", "file:PATH" or "acm:ARN"').optional(),
  /** Certificates: the TLS server name (SNI) to ask for; default the check's host. */
  sni: z.string().optional(),
  /** Certificates: alert this long before expiry; default certificates.leadTime (providerLeadTime for rotation: provider). */
  alertBefore: durationSchema.optional(),
});

export const inventoryEntrySchema = z.discriminatedUnion("kind", [kmsKeyEntry, secretEntry, signingKeyEntry, externalEntry], {
  error: () => 'expected kind "kms-key", "secret", "signing-key", "certificate" or "data-key"',
});

export const roleSchema = z.object({
  description: z.string().default(""),
  /** IAM principal ARNs that act in this role (for key policies and the audit's purpose binding). */
  principals: z.array(z.string()).default([]),
});

/** One slot of an approval rule: a role name, or a list of roles of which any one will do. "*" = any registered role. */
const approvalSlotSchema = z.union([z.string(), z.array(z.string()).min(1)]);

export const approvalRuleSchema = z.object({
  /** Each entry is one slot, filled by a distinct person holding (one of) its role(s). */
  roles: z.array(approvalSlotSchema).min(1),
  /**
   * A documented exception that lets one person fill every slot (the one-custodian company of
   * POLICY.md §3). Every journal entry it lets through records this id.
   */
  singleCustodianException: z.string().min(1).optional(),
  /** Request lifetime for this operation; default `requestLifetime`. */
  requestLifetime: durationSchema.optional(),
});

const sshKeyLine = /^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/;

export const approverSchema = z
  .object({
    name: z.string().min(1),
    email: z.string().min(3),
    roles: z.array(z.string()).min(1),
    ssh: z.string().regex(sshKeyLine, 'expected an Ed25519 public key line "ssh-ed25519 AAAA... comment"').optional(),
    kms: z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+$/, "expected a KMS key ARN").optional(),
    /** Optional PEM / base64 DER SubjectPublicKeyInfo of the KMS key; else fetched with GetPublicKey. */
    kmsPublicKey: z.string().optional(),
    /** AWS profile the approver signs with (a default for `dropkeys approve --kms-profile`). */
    kmsProfile: z.string().optional(),
    revoked: z.boolean().default(false),
  })
  .refine((a) => (a.ssh === undefined) !== (a.kms === undefined), {
    message: 'expected exactly one of "ssh" or "kms"',
  });

/** A service endpoint: one URL, or one per region. */
const endpointSchema = z.union([z.url(), z.record(z.string().regex(AWS_REGION), z.url())]);

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time "HH:MM"');

export const businessHoursSchema = z.object({
  timezone: z.string().default("Europe/Oslo"),
  /** ISO weekdays 1 = Monday ... 7 = Sunday. */
  days: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
  start: clockTime.default("08:00"),
  end: clockTime.default("17:00"),
});

export const alertsSchema = z.object({
  failedAttempts: z
    .object({ threshold: z.number().int().positive().default(3), window: durationSchema.default(300_000) })
    .default({ threshold: 3, window: 300_000 }),
});

export const jwtSchema = z.object({
  /** The inventory entry of the HS256 signing secret. */
  secret: z.string().default("JWT_SECRET"),
  /** Lifetime of a session JWT: the old secret keeps verifying at least this long. */
  tokenLifetime: durationSchema.default(86_400_000),
  /** How long the application may cache the secret; added to the overlap. */
  cacheTtl: durationSchema.default(3_600_000),
  /** Overlap after an emergency rotation (POLICY.md §4: none, or 5 minutes in one draft). */
  emergencyOverlap: durationSchema.default(0),
  /** Command run after promotion (e.g. start a rolling deploy); its output is shown. */
  deployCommand: z.string().optional(),
  /**
   * Emergency rotation: sessions active in the compromise window, for the audit report; `?` 1 = window start,
   * `?` 2 = window end (ISO times); returns session_id, user_id, created_at, last_seen_at (never token values).
   */
  activeSessionsQuery: z.string().optional(),
});

export const envelopeSchema = z.object({
  /** The KMS key (inventory name) that wraps the per-record DEKs. */
  key: z.string().default("drop-national-id-key"),
  /** Length of the wrapped DEK at the front of an envelope, or "auto" to measure it once per run. */
  wrappedDekBytes: z.union([z.number().int().positive(), z.literal("auto")]).default("auto"),
});

/** Access grants (dropkeys grant): they expire in the policy, not in KMS. */
export const grantsSchema = z.object({
  /** The longest a grant may live; also the default of `dropkeys grant --expires`. */
  maxLifetime: durationSchema.default(90 * 86_400_000),
  /** Default --expires when shorter than maxLifetime. */
  defaultLifetime: durationSchema.optional(),
  /** Principal (e.g. the cron role) set as each grant's RetiringPrincipal, so it may RetireGrant. */
  retiringPrincipal: z.string().optional(),
});

/** Certificate expiry checks in `status`. */
export const certificatesSchema = z.object({
  /** Alert this long before a certificate expires (TLS-EXT: 14 days). */
  leadTime: durationSchema.default(14 * 86_400_000),
  /** The same for provider certificates (inventory rotation "provider", e.g. BankID): 60 days. */
  providerLeadTime: durationSchema.default(60 * 86_400_000),
  /** A TLS check gives up after this long. */
  timeout: durationSchema.default(5_000),
});

/** Where the journal's write-once copy lives (S3 Object Lock, COMPLIANCE mode), and which journal it is. */
export const journalSectionSchema = z.object({
  /** s3://BUCKET/PREFIX: every entry is written there, as its own object, before the AWS call it announces. */
  mirror: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, "expected s3://BUCKET/PREFIX").optional(),
  /** Object Lock retention of each mirrored entry, in days (POLICY.md §8: 5 years). */
  retentionDays: z.number().int().positive().default(1827),
  /** The expected journal id (the hash of its first entry): a journal with another id is refused. */
  id: z.string().regex(/^[0-9a-f]{64}$/, "expected the 64 hex digits of the journal's first entry hash").optional(),
});

export const policySchema = z.object({
  version: z.literal(1, { error: () => "expected 1" }),
  organisation: z.string().default("Drop"),
  /** Default region for entries without their own. */
  region: z.string().regex(AWS_REGION, "expected an AWS region such as eu-north-1").default("eu-north-1"),
  /** AWS account the inventory lives in; used to build ARNs in key policies. */
  account: z.string().regex(/^\d{12}$/, "expected a 12-digit AWS account id").optional(),
  timezone: z.string().default("Europe/Oslo"),
  businessHours: businessHoursSchema.default(businessHoursSchema.parse({})),
  roles: z.record(z.string(), roleSchema).default({}),
  inventory: z.array(inventoryEntrySchema).min(1, "expected at least one inventory entry"),
  approvers: z.array(approverSchema).default([]),
  /**
   * SSH key files by OS user name: the key each approver signs with on their own machine, which
   * `dropkeys doctor` checks there. Not authority (the registered public keys are): a relative
   * path is the policy file's directory's, `~/` the home directory's.
   */
  keyFiles: z.record(z.string(), z.string().min(1)).optional(),
  approvals: z.record(z.string(), approvalRuleSchema).default({}),
  /** How long an approval request stays valid. */
  requestLifetime: durationSchema.default(3_600_000),
  endpoints: z.record(z.string(), endpointSchema).default({}),
  alerts: alertsSchema.default(alertsSchema.parse({})),
  /** How long to poll KMS until a DisableKey is visible (it applies eventually). */
  disableVerifyTimeout: durationSchema.default(300_000),
  /** Longest wait for one attempt of an AWS call (connection, then response); the SDK retries within its attempts. */
  awsTimeout: durationSchema.default(10_000),
  /** Longest time one AWS call may take with all its retries (an endpoint that keeps throttling ends too). */
  awsDeadline: durationSchema.default(120_000),
  /** Longest time `reencrypt --reenable-source` keeps a (compromised) source key enabled before it stops the run. */
  reenableMaxDuration: durationSchema.default(900_000),
  /** Days database backups are kept: how long a shredded value still lives in old backups. */
  backupRetentionDays: z.number().int().nonnegative().default(35),
  jwt: jwtSchema.default(jwtSchema.parse({})),
  envelope: envelopeSchema.default(envelopeSchema.parse({})),
  database: databaseSchema.optional(),
  grants: grantsSchema.default(grantsSchema.parse({})),
  certificates: certificatesSchema.default(certificatesSchema.parse({})),
  journal: journalSectionSchema.optional(),
});

export type Policy = z.output<typeof policySchema>;
export type InventoryEntry = Policy["inventory"][number];
export type KmsKeyEntry = Extract<InventoryEntry, { kind: "kms-key" }>;
export type SecretEntry = Extract<InventoryEntry, { kind: "secret" }>;
export type SigningKeyEntry = Extract<InventoryEntry, { kind: "signing-key" }>;
export type Approver = Policy["approvers"][number];
export type ApprovalRule = Policy["approvals"][string];
export type Role = Policy["roles"][string];
export type CertificateEntry = Extract<InventoryEntry, { kind: "certificate" | "data-key" }>;
