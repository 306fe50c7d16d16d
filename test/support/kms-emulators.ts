// The two KMS emulators the harness starts per region: the strict moto (the default KMS endpoint
// of every other test) and local-kms (a second, independent implementation of KMS's key-state
// rules, started by scripts/aws-emulators.mjs). Tests that must hold on both iterate KMS_EMULATORS.
import { KMSClient } from "@aws-sdk/client-kms";
import { kmsClient } from "./aws.js";

export type KmsEmulatorName = "strict moto" | "local-kms";

/** local-kms of a region (eu-north-1, eu-west-1). */
export function localKmsUrl(region = "eu-north-1"): string {
  const name = `DROPKEYS_EMULATOR_LOCALKMS_${region.toUpperCase().replaceAll("-", "_")}`;
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (the harness starts the emulators)`);
  return value;
}

export function localKmsClient(region = "eu-north-1"): KMSClient {
  return new KMSClient({ region, endpoint: localKmsUrl(region), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 });
}

export const KMS_EMULATORS: { name: KmsEmulatorName; client: (region?: string) => KMSClient }[] = [
  { name: "strict moto", client: kmsClient },
  { name: "local-kms", client: localKmsClient },
];
