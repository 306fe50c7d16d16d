// Types of aws-emulators.mjs, for the TypeScript test setup that imports it.
export declare const MOTO_VERSION: string;
export declare const REGIONS: string[];
export interface Emulators {
  motoUrl: string;
  kmsUrls: Record<string, string>;
  endpoints: Record<string, string | Record<string, string>>;
  env: Record<string, string>;
  pids: number[];
  logDir: string;
  stop(): Promise<void>;
}
export declare function installMoto(): string;
export declare function startEmulators(options?: { logDir?: string; detached?: boolean }): Promise<Emulators>;
export declare const SQL_TOOLS: string[];
export declare function installSqlTools(): string;
