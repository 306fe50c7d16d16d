// What collecting approvals needs (index.ts checks the files given, interactive.ts asks at a terminal).
import type { AwsClients } from "../aws/clients.js";
import type { Output } from "../output.js";
import type { ApprovalRule, Policy } from "../policy/schema.js";
import type { OperationRequest } from "./request.js";

export interface CollectOptions {
  policy: Policy;
  rule: ApprovalRule;
  ruleName: string;
  request: OperationRequest;
  requestBytes: Buffer;
  approvalFiles: string[];
  interactive: boolean;
  isRequestIdUsed: (id: string) => boolean;
  aws: AwsClients;
  out: Output;
  /** One line for the approver: what, on which key, in which region. */
  summary: string;
}
