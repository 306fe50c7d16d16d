// What a JWT rotation takes and returns: rotate-jwt renders it, its journal outcome records it.
import type { DeployResult } from "./deploy.js";
import type { RotationResult } from "./rotation.js";

export interface RotateJwtParams {
  name: string;
  emergency: boolean;
  overlapMs: number;
  detectedAt?: string | undefined;
  compromisedSince?: string | undefined;
  report?: string | undefined;
}

export interface RotateJwtResult extends RotationResult {
  sessions?: { revoked: number; database: string; reported?: number | undefined; report?: string | undefined } | undefined;
  deploy?: DeployResult | undefined;
}
