// Small pieces every key lifecycle operation uses: the required reason, the journal target of a
// key, the state of a key after a failed call (for the outcome entry), and runnable next commands.
import type { KeyMetadata } from "@aws-sdk/client-kms";
import type { Context } from "../context.js";
import { awsErrorName, usageError } from "../errors.js";
import type { JournalEntry } from "../journal/journal.js";
import { describeKeyId, type ExistingKey } from "./kms.js";

/** --reason is required for every lifecycle operation but generate: exit 2 before anything else. */
export function requireReason(input: { name: string; reason?: string | undefined }, operation: string): string {
  const reason = input.reason?.trim();
  if (!reason) {
    throw usageError(`${operation} needs --reason TEXT (it goes into the internkontroll journal)`, {
      code: "usage.reason-required",
      hint: `e.g. dropkeys ${operation} ${input.name} --reason "key leaked in a CI log"`,
    });
  }
  return reason;
}

export function kmsJournalTarget(key: ExistingKey): NonNullable<JournalEntry["target"]> {
  return { name: key.name, arn: key.arn, keyId: key.keyId, region: key.region, kind: "kms-key" };
}

/** Quote an argument for a shell command line shown to people. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** "dropkeys OP NAME --flag value ..." with the values quoted. */
export function command(op: string, name: string, flags: Record<string, string | number | boolean | undefined> = {}): string {
  const parts = ["dropkeys", op, shellQuote(name)];
  for (const [flag, value] of Object.entries(flags)) {
    if (value === undefined || value === false) continue;
    parts.push(`--${flag}`);
    if (value !== true) parts.push(shellQuote(String(value)));
  }
  return parts.join(" ");
}

/** The key's state after a failure, read again; says so plainly when KMS cannot be reached. */
export async function stateAfterFailure(ctx: Context, key: ExistingKey): Promise<{ text: string; metadata?: KeyMetadata }> {
  try {
    const metadata = await describeKeyId(ctx.aws.kms(key.region), key.keyId);
    return {
      text: `${key.name} (${key.keyId}) is ${metadata.KeyState}${metadata.DeletionDate ? `, deletion on ${metadata.DeletionDate.toISOString()}` : ""}`,
      metadata,
    };
  } catch (error) {
    return { text: `unknown: KMS in ${key.region} could not be asked (${awsErrorName(error) ?? "error"}: ${(error as Error).message}); ${key.name} (${key.keyId}) was ${key.key.KeyState} before the call` };
  }
}

/** Whether an error means the call never reached KMS (connection refused, DNS): AWS was not changed. */
export function neverReachedAws(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${(error as NodeJS.ErrnoException)?.code ?? ""} ${awsErrorName(error) ?? ""}`;
  return /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|CredentialsProviderError/.test(text);
}
