// One error type for every expected failure: a code, a message for people, a hint, and the exit
// code the CLI turns it into. Anything that is not a DropkeysError is a bug and shows its stack.

export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  approval: 3,
  findings: 4,
  journal: 5,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = Exclude<keyof typeof ExitCode, "ok">;

export interface ErrorOptions {
  /** What the person can do about it, one line. */
  hint?: string;
  /** Machine-readable code for --json consumers, e.g. "policy.invalid". */
  code?: string;
  /** Structured facts for --json (never secret values). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class DropkeysError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string | undefined;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DropkeysError";
    this.kind = kind;
    this.hint = options.hint;
    this.code = options.code ?? kind;
    this.details = options.details;
  }

  get exitCode(): ExitCodeValue {
    return ExitCode[this.kind];
  }

  toJSON(): Record<string, unknown> {
    return {
      error: {
        kind: this.kind,
        code: this.code,
        message: this.message,
        ...(this.hint ? { hint: this.hint } : {}),
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export const usageError = (message: string, options?: ErrorOptions) => new DropkeysError("usage", message, options);
export const failure = (message: string, options?: ErrorOptions) => new DropkeysError("failed", message, options);
export const approvalError = (message: string, options?: ErrorOptions) =>
  new DropkeysError("approval", message, options);
export const journalError = (message: string, options?: ErrorOptions) => new DropkeysError("journal", message, options);

export function isDropkeysError(error: unknown): error is DropkeysError {
  return error instanceof DropkeysError;
}

/** The AWS SDK's error name ("DisabledException"), or undefined for non-AWS errors. */
export function awsErrorName(error: unknown): string | undefined {
  if (error && typeof error === "object" && "name" in error && typeof error.name === "string") {
    return error.name;
  }
  return undefined;
}
