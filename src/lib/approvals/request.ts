// The operation request approvers sign. Its canonical JSON (sorted keys, no whitespace) followed
// by one newline is at once the request file's content and the signed message, so a plain
// `ssh-keygen -Y sign` on the file signs exactly the bytes dropkeys verifies.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { canonicalJson } from "../canonical.js";
import { approvalError, usageError } from "../errors.js";

// Version 2 binds the request to the sealed policy, the journal and the approval rule.
export const REQUEST_VERSION = 2;

export interface OperationRequest {
  v: typeof REQUEST_VERSION;
  id: string;
  operation: string;
  target: string;
  params: Record<string, unknown>;
  reason: string | null;
  incident: string | null;
  requestedBy: string;
  createdAt: string;
  expiresAt: string;
  /** The digest of the policy seal it was made under (null only for a first-use seal). */
  policy: string | null;
  /** The journal's id, the hash of its first entry (null for a journal that is still empty). */
  journal: string | null;
  /** The approval rule it must satisfy; no flag at apply time can change it. */
  rule: string;
}

const isoTime = z.string().refine((s) => /^\d{4}-\d\d-\d\dT/.test(s) && !Number.isNaN(Date.parse(s)), "expected an ISO time");

const requestSchema = z.strictObject({
  v: z.literal(REQUEST_VERSION),
  id: z.uuid(),
  operation: z.string().min(1),
  target: z.string().min(1),
  params: z.record(z.string(), z.unknown()),
  reason: z.string().nullable(),
  incident: z.string().nullable(),
  requestedBy: z.string(),
  createdAt: isoTime,
  expiresAt: isoTime,
  policy: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  journal: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  rule: z.string().min(1),
});

export interface NewRequest {
  operation: string;
  target: string;
  params: Record<string, unknown>;
  reason?: string | null | undefined;
  incident?: string | null | undefined;
  requestedBy: string;
  lifetimeMs: number;
  policy: string | null;
  journal: string | null;
  rule: string;
}

export function createRequest(input: NewRequest, now = new Date()): OperationRequest {
  return {
    v: REQUEST_VERSION,
    id: randomUUID(),
    operation: input.operation,
    target: input.target,
    params: input.params,
    reason: input.reason ?? null,
    incident: input.incident ?? null,
    requestedBy: input.requestedBy,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + input.lifetimeMs).toISOString(),
    policy: input.policy,
    journal: input.journal,
    rule: input.rule,
  };
}

/** The signed message: canonical JSON plus one "\n", byte for byte the request file. */
export function requestBytes(request: OperationRequest): Buffer {
  return Buffer.from(canonicalJson(request) + "\n", "utf8");
}

export function writeRequestFile(file: string, request: OperationRequest): void {
  writeFileSync(file, requestBytes(request), { mode: 0o644 });
}

export function readRequestFile(file: string): OperationRequest {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (error) {
    throw usageError(`cannot read the request file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: "request.unreadable",
    });
  }
  return parseRequest(raw, file);
}

export function parseRequest(raw: Buffer, file: string): OperationRequest {
  const notRequest = (why: string) =>
    usageError(`${file} is not a dropkeys operation request: ${why}`, {
      code: "request.invalid",
      hint: "Use the file written by `--request-out`, unchanged.",
    });
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8"));
  } catch {
    throw notRequest("it is not JSON");
  }
  if ((value as { v?: unknown } | null)?.v === 1) {
    throw approvalError(`${file} was made by an older dropkeys: it is not bound to a policy seal, a journal and a rule, and is not accepted`, {
      code: "approval.request-unbound",
      hint: "Write a new request (the same command with --request-out FILE) and have it signed again.",
    });
  }
  const parsed = requestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw notRequest(`${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  const request = parsed.data as OperationRequest;
  // Approvals sign the file's bytes; a reformatted file would carry signatures over other bytes.
  if (!requestBytes(request).equals(raw)) {
    throw usageError(`${file} was changed after dropkeys wrote it (it is not the canonical request bytes)`, {
      code: "request.not-canonical",
      hint: "Use the file exactly as `--request-out` wrote it: one line of JSON with sorted keys and one trailing newline.",
    });
  }
  return request;
}
