// Types of aws-emulators.mjs, for the TypeScript test setup that imports it.
export declare const MOTO_VERSION: string;
export declare const REGIONS: string[];
export declare const LOCAL_KMS_MODULE: string;
export declare const LOCAL_KMS_VERSION: string;
export declare const LOCAL_KMS_BINARY: string;
export interface Emulators {
  motoUrl: string;
  /** The strict-KMS moto of each region: the default KMS endpoint of the tests. */
  kmsUrls: Record<string, string>;
  /** local-kms of each region: a second KMS, not in `endpoints`. */
  localKmsUrls: Record<string, string>;
  endpoints: Record<string, string | Record<string, string>>;
  env: Record<string, string>;
  pids: number[];
  /** local-kms's temporary database directories, removed by stop(). */
  dataDirs: string[];
  /** Milliseconds from spawn until each emulator answered, by name (moto, kms-REGION, local-kms-REGION). */
  startupMs: Record<string, number>;
  logDir: string;
  stop(): Promise<void>;
}
export declare function installMoto(): string;
export declare function installLocalKms(): string;
export declare function startEmulators(options?: { logDir?: string; detached?: boolean }): Promise<Emulators>;
export declare const SQL_TOOLS: string[];
export declare function installSqlTools(): string;
