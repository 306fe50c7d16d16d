// What each key lifecycle operation returns: its commands render it, its journal outcome records it.
import type { Jwks, PublicJwk } from "./jwks.js";

export interface GenerateResult {
  kind: "kms-key" | "secret" | "signing-key";
  name: string;
  region: string;
  arn: string;
  keyId?: string | undefined;
  alias?: string | undefined;
  /** Automatic rotation period in days, when enabled. */
  rotationPeriodDays?: number | undefined;
  canary?: string | undefined;
  versionId?: string | undefined;
  kid?: string | undefined;
  jwk?: PublicJwk | undefined;
  jwks?: Jwks | undefined;
  jwksOut?: string | undefined;
  /** The key the alias pointed at before (moved off a key pending deletion). */
  previousKeyId?: string | undefined;
}

export interface DisableResult {
  keyId: string;
  arn: string;
  region: string;
  /** Canary ciphertext made just before disabling; kept in the journal for schedule-deletion. */
  canary?: string | undefined;
  /** Why there is no canary (then the key state alone is verified). */
  canaryProblem?: string | undefined;
  disabledAt: string;
}

export interface EnableResult {
  keyId: string;
  region: string;
}

export interface RotateResult {
  keyId: string;
  region: string;
  requestedAt: string;
  onDemandBefore: number;
}

export interface ScheduleResult {
  id: string;
  deletionDate: string;
  days: number;
  /** Where the canary ciphertext came from ("made now", "journal"), or why there is none. */
  canarySource: string;
  canary?: string | undefined;
}

export interface CancelResult {
  id: string;
  kind: string;
  /** The state after cancelling: "Disabled" for a KMS key. */
  state: string;
}

export interface SyncKeyPolicyResult {
  keyId: string;
  region: string;
  keyPolicySha256: string;
  changes: string[];
}
