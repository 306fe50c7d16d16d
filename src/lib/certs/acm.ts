// A certificate in ACM: DescribeCertificate gives expiry, subject, issuer and key algorithm (the
// private key never leaves ACM). Its region is the ARN's.
import { DescribeCertificateCommand } from "@aws-sdk/client-acm";
import type { Context } from "../context.js";
import { awsFailure } from "../targets.js";
import type { CertificateFacts } from "./read.js";

const KEY_TYPES: Record<string, string> = { EC_prime256v1: "ECDSA P-256", EC_secp384r1: "ECDSA P-384", EC_secp521r1: "ECDSA P-521", RSA_1024: "RSA-1024", RSA_2048: "RSA-2048", RSA_3072: "RSA-3072", RSA_4096: "RSA-4096" };

export async function readAcm(ctx: Context, arn: string): Promise<CertificateFacts> {
  const region = arn.split(":")[3] || ctx.policy.region;
  let cert;
  try {
    cert = (await ctx.aws.acm(region).send(new DescribeCertificateCommand({ CertificateArn: arn }))).Certificate;
  } catch (error) {
    throw awsFailure(error, `ACM DescribeCertificate ${arn}`);
  }
  const warnings: string[] = [];
  if (cert?.Status && cert.Status !== "ISSUED") warnings.push(`ACM status ${cert.Status}`);
  if (!cert?.NotAfter) throw awsFailure(new Error("no NotAfter in the answer"), `ACM DescribeCertificate ${arn}`);
  return {
    subject: cert.Subject ?? cert.DomainName ?? "",
    issuer: cert.Issuer ?? "",
    notBefore: cert.NotBefore?.toISOString() ?? "",
    notAfter: cert.NotAfter.toISOString(),
    keyType: KEY_TYPES[cert.KeyAlgorithm ?? ""] ?? cert.KeyAlgorithm ?? "unknown",
    serialNumber: cert.Serial,
    warnings,
  };
}
