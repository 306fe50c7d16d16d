// SDK clients pointed at the emulators the test harness started (test/support/global-setup.ts).
// Tests use them to prepare state and to read the state dropkeys left behind.
import { KMSClient } from "@aws-sdk/client-kms";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (the harness starts the emulators)`);
  return value;
}

/** The strict KMS emulator of a region (eu-north-1, eu-west-1). */
export function kmsUrl(region = "eu-north-1"): string {
  return env(`DROPKEYS_EMULATOR_KMS_${region.toUpperCase().replaceAll("-", "_")}`);
}

export function motoUrl(): string {
  return env("DROPKEYS_EMULATOR_MOTO");
}

export function kmsClient(region = "eu-north-1"): KMSClient {
  return new KMSClient({ region, endpoint: kmsUrl(region), credentials, maxAttempts: 1 });
}

export function secretsClient(region = "eu-north-1"): SecretsManagerClient {
  return new SecretsManagerClient({ region, endpoint: motoUrl(), credentials, maxAttempts: 1 });
}

export function s3Client(region = "eu-north-1"): S3Client {
  return new S3Client({ region, endpoint: motoUrl(), credentials, forcePathStyle: true, maxAttempts: 1 });
}

export function stsClient(region = "eu-north-1"): STSClient {
  return new STSClient({ region, endpoint: motoUrl(), credentials, maxAttempts: 1 });
}

/** Environment for spawning the CLI against the emulators (credentials; endpoints come from the policy). */
export const cliAwsEnv = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_MAX_ATTEMPTS: "1" };
