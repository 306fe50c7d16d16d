// CloudTrail's event history through LookupEvents: 90 days of management events, newest first,
// at most 50 per page, one lookup attribute per call, and 2 requests per second per account and
// region. Requests are paced under that limit; ThrottlingException waits and retries with backoff.
import { LookupEventsCommand, type LookupAttribute, type LookupEventsCommandOutput } from "@aws-sdk/client-cloudtrail";
import { awsErrorName, failure } from "../../errors.js";
import { KMS_SOURCE } from "../normalize.js";
import { takeRecord } from "../scan.js";
import type { FileResult, ScanFilter } from "../types.js";

/** The part of CloudTrailClient this source uses (tests answer it with recorded responses). */
export interface LookupClient {
  send(command: LookupEventsCommand): Promise<LookupEventsCommandOutput>;
}

export interface ApiOptions {
  filter: ScanFilter;
  regions: string[];
  /** With --key: the key ARNs per region, looked up by ResourceName; else every KMS event of the region. */
  keysByRegion?: Map<string, string[]> | undefined;
  /** Event sources looked up without keysByRegion (default: KMS; audit-changes adds Secrets Manager). */
  eventSources?: string[];
  /** Least time between two requests to one region (2 per second). */
  minIntervalMs?: number;
  maxRetries?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface ApiStats {
  requests: number;
  throttled: number;
  pages: number;
}

const THROTTLED = new Set(["ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "Throttling"]);

/** Spaces calls to one account+region at least `interval` apart. */
export class Pacer {
  private next = 0;
  constructor(
    private readonly interval: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}
  async wait(): Promise<void> {
    const t = this.now();
    if (t < this.next) await this.sleep(this.next - t);
    this.next = Math.max(t, this.next) + this.interval;
  }
}

export async function readApi(client: (region: string) => LookupClient, options: ApiOptions, onResult: (result: FileResult) => void): Promise<ApiStats> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const stats: ApiStats = { requests: 0, throttled: 0, pages: 0 };
  const keySet = options.filter.keys ? new Set(options.filter.keys) : null;
  await Promise.all(
    options.regions.map(async (region) => {
      const pacer = new Pacer(options.minIntervalMs ?? 500, now, sleep);
      const lookups: LookupAttribute[] = options.keysByRegion
        ? (options.keysByRegion.get(region) ?? []).map((arn) => ({ AttributeKey: "ResourceName", AttributeValue: arn }))
        : (options.eventSources ?? [KMS_SOURCE]).map((source) => ({ AttributeKey: "EventSource", AttributeValue: source }));
      for (const attribute of lookups) {
        let token: string | undefined;
        let page = 0;
        do {
          const out = await send(client(region), region, attribute, token, options, pacer, sleep, stats);
          page++;
          stats.pages++;
          const result: FileResult = { file: `LookupEvents ${region} ${attribute.AttributeValue} page ${page}`, bytes: 0, compressedBytes: 0, records: 0, kmsEvents: 0, events: [], badEvents: 0 };
          for (const e of out.Events ?? []) {
            result.records++;
            const text = e.CloudTrailEvent ?? "";
            result.bytes += text.length;
            takeRecord(result, text, options.filter, keySet, `event ${e.EventId ?? "?"} has no readable CloudTrailEvent`);
          }
          result.compressedBytes = result.bytes;
          onResult(result);
          token = out.NextToken;
        } while (token);
      }
    }),
  );
  return stats;
}

async function send(
  client: LookupClient,
  region: string,
  attribute: LookupAttribute,
  token: string | undefined,
  options: ApiOptions,
  pacer: Pacer,
  sleep: (ms: number) => Promise<void>,
  stats: ApiStats,
): Promise<LookupEventsCommandOutput> {
  const maxRetries = options.maxRetries ?? 6;
  for (let attempt = 0; ; attempt++) {
    await pacer.wait();
    stats.requests++;
    try {
      return await client.send(
        new LookupEventsCommand({
          LookupAttributes: [attribute],
          StartTime: new Date(options.filter.since),
          EndTime: new Date(options.filter.until),
          MaxResults: 50,
          ...(token ? { NextToken: token } : {}),
        }),
      );
    } catch (error) {
      const name = awsErrorName(error);
      if (name && THROTTLED.has(name) && attempt < maxRetries) {
        stats.throttled++;
        // Exponential backoff with jitter: 1 s, 2 s, 4 s ... capped at 20 s.
        await sleep(Math.min(20_000, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5));
        continue;
      }
      throw failure(`CloudTrail LookupEvents in ${region} failed: ${name ?? "error"}: ${(error as Error).message}`, {
        code: name && THROTTLED.has(name) ? "audit.throttled" : "audit.api",
        hint:
          name && THROTTLED.has(name)
            ? `CloudTrail kept throttling after ${maxRetries} retries; run again later, narrow --since/--key, or read the trail's archive with --source s3://BUCKET/PREFIX.`
            : "The audit needs cloudtrail:LookupEvents in the keys' regions; or read the trail's archive with --source s3://BUCKET/PREFIX.",
        cause: error,
      });
    }
  }
}
