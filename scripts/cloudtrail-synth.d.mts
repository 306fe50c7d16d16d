// Types of cloudtrail-synth.mjs, for the tests that import it.
type CtRecord = Record<string, unknown>;
export declare function identityFor(callerArn: string, options?: { invokedBy?: string }): Record<string, unknown>;
export declare function awsServiceIdentity(service: string): Record<string, unknown>;
export declare function changeRecord(options: {
  name: string;
  time: string;
  identity: Record<string, unknown>;
  keyArn?: string;
  aliasName?: string;
  secretArn?: string;
  secretName?: string;
  region?: string;
  params?: Record<string, unknown>;
  response?: unknown;
  errorCode?: string;
  errorMessage?: string;
  eventType?: string;
}): CtRecord;
export declare function recordsFromJournal(entries: unknown[], options?: { shiftMs?: (index: number) => number }): CtRecord[];
export declare function writeArchive(root: string, records: CtRecord[]): string[];
export declare function archiveObjects(dir: string): [string, Buffer][];
export declare function readJournal(dir: string): unknown[];
