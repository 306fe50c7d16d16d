// What grant and revoke-grant return: their commands render it, their journal outcomes record it.

export interface GrantResult {
  keyId: string;
  arn: string;
  region: string;
  grantId: string;
  grantName: string;
  grantee: string;
  operations: string[];
  encryptionContext: Record<string, string> | null;
  createdAt: string;
  expiresAt: string;
}

export interface RevokeGrantResult {
  keyId: string;
  region: string;
  grantId: string;
  grantee: string;
  revokedAt: string;
}
