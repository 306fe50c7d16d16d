// Placeholder until the terminal flow lands: behaves as if no approval was given.
import type { CollectOptions } from "./index.js";
import type { VerifiedApproval, VerifyContext } from "./verify.js";

export async function promptForApprovals(_o: CollectOptions, _vc: VerifyContext, _given: VerifiedApproval[], _unfilled: number[]): Promise<VerifiedApproval[]> {
  return [];
}
