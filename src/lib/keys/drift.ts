// Key-policy drift: the key policy in AWS against the one `generate` would write from today's role
// bindings. A key dropkeys made (or synced) that differs is a finding; a key made outside dropkeys
// keeps its own policy until `dropkeys sync-key-policy` and is only noted.
import { GetKeyPolicyCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { Context } from "../context.js";
import type { JournalEntry } from "../journal/journal.js";
import type { KmsKeyEntry } from "../policy/schema.js";
import { awsFailure } from "../targets.js";
import { diffKeyPolicy, expectedKeyPolicy, type KeyPolicyDiff } from "./key-policy.js";

export const SYNC_OPERATION = "sync-key-policy";

export interface KeyPolicyDrift {
  inSync: boolean;
  /** dropkeys made this key (generate) or has synced its policy: drift is then a finding. */
  managed: boolean;
  diff: KeyPolicyDiff;
}

/** The key policy in AWS as a parsed document (moto and AWS both take PolicyName "default"). */
export async function readKeyPolicy(kms: KMSClient, keyId: string): Promise<unknown> {
  const out = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }));
  return JSON.parse(out.Policy ?? "{}");
}

/** Whether the journal shows dropkeys made the key or put its policy. */
export function keyPolicyManaged(entries: JournalEntry[], keyId: string): boolean {
  return entries.some((e) => e.type === "outcome" && e.outcome === "succeeded" && (e.operation === "generate" || e.operation === SYNC_OPERATION) && e.details?.keyId === keyId);
}

export async function keyPolicyDrift(ctx: Context, entry: KmsKeyEntry, region: string, keyId: string, arn: string): Promise<KeyPolicyDrift> {
  let actual: unknown;
  try {
    actual = await readKeyPolicy(ctx.aws.kms(region), keyId);
  } catch (error) {
    throw awsFailure(error, `GetKeyPolicy ${entry.name} (${keyId}) in ${region}`);
  }
  const diff = diffKeyPolicy(actual, expectedKeyPolicy(ctx.policy, entry, arn));
  return { inSync: diff.lines.length === 0, managed: keyPolicyManaged(ctx.journal().entries(), keyId), diff };
}

/** What `status` adds to a KMS key's line: a problem (managed key) or a note (made outside dropkeys). */
export function driftStatusLines(name: string, drift: KeyPolicyDrift): { problems: string[]; notes: string[] } {
  if (drift.inSync) return { problems: [], notes: [] };
  const diff = drift.diff.lines.map((l) => `    ${l}`).join("\n");
  if (drift.managed) return { problems: [`key policy differs from the role bindings (+ a sync adds, - removes; dropkeys sync-key-policy ${name}):\n${diff}`], notes: [] };
  return { problems: [], notes: [`made outside dropkeys: its key policy is kept until dropkeys sync-key-policy ${name}; it differs from the role bindings:\n${diff}`] };
}
