// Starts the local AWS emulators and a PostgreSQL server once for the whole test run, and hands
// their addresses to the test files through environment variables (the workers inherit them):
// DROPKEYS_EMULATOR_MOTO, DROPKEYS_EMULATOR_KMS_<REGION> (strict moto, the default KMS),
// DROPKEYS_EMULATOR_LOCALKMS_<REGION> (local-kms), DROPKEYS_EMULATOR_ENDPOINTS (JSON),
// DROPKEYS_TEST_PG_URL, and dummy AWS credentials. Nothing is mocked: these are real servers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { startEmulators } from "../../scripts/aws-emulators.mjs";
import { startPostgres } from "./postgres.js";

export default async function setup(): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const logDir = mkdtempSync(path.join(tmpdir(), "dropkeys-emulators-"));
  const [emulators, postgres] = await Promise.all([startEmulators({ logDir }), startPostgres()]);
  Object.assign(process.env, emulators.env, { DROPKEYS_TEST_PG_URL: postgres.url, DROPKEYS_TEST_EMULATOR_LOGS: logDir });
  process.stderr.write(`emulators: moto ${emulators.motoUrl}, kms ${JSON.stringify(emulators.kmsUrls)}, local-kms ${JSON.stringify(emulators.localKmsUrls)}; postgres ${postgres.url.replace(/:[^:@/]+@/, ":***@")} (user ${userInfo().username})\n`);
  return async () => {
    await Promise.all([emulators.stop(), postgres.stop()]);
    rmSync(logDir, { recursive: true, force: true });
  };
}
