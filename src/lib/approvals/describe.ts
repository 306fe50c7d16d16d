// A request in plain words, for the person about to sign it.
import { formatLocal } from "../time.js";
import type { OperationRequest } from "./request.js";

export function describeRequest(request: OperationRequest, summary?: string): string[] {
  const params = Object.entries(request.params)
    .filter(([k]) => k !== "approvers")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [
    ...(summary ? [summary] : []),
    `  operation:    ${request.operation}`,
    `  target:       ${request.target}`,
    `  parameters:   ${params.join(", ") || "-"}`,
    `  reason:       ${request.reason ?? "-"}`,
    `  incident:     ${request.incident ?? "-"}`,
    `  requested by: ${request.requestedBy}`,
    `  rule:         ${request.rule}`,
    `  policy seal:  ${request.policy ?? "none yet (first seal)"}`,
    `  journal:      ${request.journal ?? "new (no entries yet)"}`,
    `  request:      ${request.id}, expires ${formatLocal(new Date(request.expiresAt))}`,
  ];
}
