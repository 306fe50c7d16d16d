// One doctor check's result: a state, what was found (one line), and the fix in one sentence.
export type CheckState = "ok" | "warning" | "problem";

export interface CheckResult {
  /** Stable machine name, e.g. "journal.lock" or "cloudtrail.eu-north-1". */
  id: string;
  state: CheckState;
  /** What was found, one line. */
  detail: string;
  /** What to do about a warning or problem, one sentence. */
  fix?: string | undefined;
  /** Structured facts for --json (never a secret or a password). */
  facts?: Record<string, unknown> | undefined;
}

export const ok = (id: string, detail: string, facts?: Record<string, unknown>): CheckResult => ({ id, state: "ok", detail, facts });
export const warning = (id: string, detail: string, fix: string, facts?: Record<string, unknown>): CheckResult => ({ id, state: "warning", detail, fix, facts });
export const problem = (id: string, detail: string, fix: string, facts?: Record<string, unknown>): CheckResult => ({ id, state: "problem", detail, fix, facts });

/** The first line of an error's message, for a one-line detail. */
export function reason(error: unknown): string {
  const name = (error as { name?: unknown })?.name;
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  const prefix = typeof name === "string" && name !== "Error" && name !== "DropkeysError" && !message.startsWith(name) ? `${name}: ` : "";
  return `${prefix}${message}${typeof cause === "string" && !message.includes(cause) ? ` (${cause})` : ""}`;
}

/** Rejects after `ms` so one silent endpoint cannot hang the whole doctor. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
