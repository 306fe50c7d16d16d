// Shapes shared by the audit's sources, rules and reports. Kept free of imports so the parser
// workers load nothing but this and the scanner.

/** How an event counts: use of the key, key management, or anything else KMS logs (Describe...). */
export type EventClass = "use" | "management" | "other";

/** One KMS event, normalised from a CloudTrail record: only what the rules and reports need. */
export interface AuditEvent {
  id: string;
  /** Epoch milliseconds (UTC). */
  time: number;
  name: string;
  region: string;
  /** Account the event was recorded in (recipientAccountId, else the caller's). */
  account: string;
  /**
   * Key ARNs: from resources[] (a ReEncrypt names two), else keyId / sourceKeyId /
   * destinationKeyId resolved (ARN, key id, alias). Empty when none is named or none resolves.
   */
  keys: string[];
  /** A key reference the record names that could not be resolved to an ARN (an unknown alias). */
  unresolvedKey?: string;
  /** The role behind a session (sessionIssuer.arn), else the caller's ARN, else "service:NAME" / "unknown". */
  principal: string;
  /** The session ARN (assumed-role/ROLE/SESSION) when it differs from the principal. */
  session?: string;
  /** An AWS service calling on the principal's behalf (invokedBy, or a service as sourceIPAddress). */
  via?: string;
  /** userIdentity.type: AssumedRole, IAMUser, AWSService, ... */
  identityType: string;
  sourceIp?: string;
  errorCode?: string;
  /** For ReEncrypt: which of `keys` was the source (the decrypt side); absent when KMS's record does not say. */
  sourceKey?: string;
}

export type Severity = "notable" | "medium" | "high" | "critical";
export const SEVERITIES: readonly Severity[] = ["notable", "medium", "high", "critical"];

export interface Finding {
  rule: 1 | 2 | 3 | 4 | 5;
  ruleName: string;
  severity: Severity;
  /** Inventory name when known, else the ARN; "(unknown key)" for failures that name none. */
  key: string;
  keyArn?: string;
  principal: string;
  first: string;
  last: string;
  count: number;
  operations: string[];
  message: string;
  /** Event ids (capped; `evidenceTotal` says how many there were). */
  evidence: string[];
  evidenceTotal: number;
}

/** A file or object that could not be read, or events in it that lacked fields. */
export interface SkippedInput {
  file: string;
  reason: string;
  /** "file": the whole file was skipped; "events": only some events in it. */
  scope: "file" | "events";
  count: number;
}

/** An alias the audit can resolve: the key ARN it named from `from` (epoch ms) on. */
export interface AliasTarget {
  arn: string;
  from: number;
}

/** What the parsers need to know to drop what is out of scope as early as possible. */
export interface ScanFilter {
  since: number;
  until: number;
  /** Key ARNs in scope; null = every key. */
  keys: string[] | null;
  /** Keep failed calls that name no key (only when the scope is not narrowed by --key). */
  keepKeyless: boolean;
  /** Also keep the window's key and secret changes (audit-changes) in FileResult.changes. */
  changes?: boolean;
  /**
   * Alias name (without "alias/") -> the keys it named, oldest first: inventory names resolved
   * through KMS, and the journal's earlier ARNs of a name. Records naming a key only by alias
   * (no resources[]) are resolved through it at the record's time.
   */
  aliases?: Record<string, AliasTarget[]>;
}

/**
 * The result of reading one CloudTrail file: its matching events and its counts. A large file is
 * delivered in parts: every part but the last has `partial` set; counts are per part (add them up).
 */
export interface FileResult {
  file: string;
  partial?: boolean;
  /** Not a log file (a digest, CloudTrail Insight or AWS Config file recognised by its content): ignored, not skipped. */
  notLog?: string;
  /** Uncompressed bytes read. */
  bytes: number;
  compressedBytes: number;
  records: number;
  kmsEvents: number;
  events: AuditEvent[];
  /** With ScanFilter.changes: the KMS and Secrets Manager changes in the window. */
  changes?: ChangeEvent[];
  /** Events without the expected fields (counted, not kept). */
  badEvents: number;
  badEventSample?: string;
  /** Set when the file was unreadable: its events are dropped, the file counted as skipped. */
  error?: string;
}

/** One change (or refused attempt) as AWS recorded it: only what matching and reports need. */
export interface ChangeEvent {
  id: string;
  /** Epoch milliseconds (UTC). */
  time: number;
  name: string;
  service: "kms" | "secretsmanager";
  region: string;
  account: string;
  /** Key ARNs the call named (resources[], keyId, targetKeyId, CreateKey's new key). */
  keys: string[];
  /** Key ids (not ARNs) named in the request, resolved by the reader against known keys. */
  keyIds: string[];
  /** Alias names without "alias/". */
  aliases: string[];
  /** Secret names (an ARN's name part, without Secrets Manager's 6-character suffix). */
  secrets: string[];
  /** The role behind a session, else the caller's ARN, else "service:NAME". */
  actor: string;
  session?: string;
  identityType: string;
  /** An AWS service that made the call (invokedBy), or AWS acting as itself (AWSService). */
  invokedBy?: string;
  errorCode?: string;
  /** The idempotency token AWS recorded (Secrets Manager's ClientRequestToken). */
  token?: string;
  /** CreateKey / CreateSecret / TagResource tags, as key=value. */
  tags?: Record<string, string>;
}
