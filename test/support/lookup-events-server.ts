// A CloudTrail LookupEvents endpoint for the tests. It exists because neither emulator has one:
// moto answers LookupEvents with 500 NotImplemented and records no events, and local-kms has no
// CloudTrail at all. It serves the records of a seeded archive the way AWS's event history does,
// over the real CloudTrail JSON protocol (POST, x-amz-target CloudTrail_20131101.LookupEvents,
// application/x-amz-json-1.1), so dropkeys reaches it through the real SDK with an endpoint
// override: at most 50 events a page, an opaque NextToken, exactly one lookup attribute, newest
// first, StartTime/EndTime, and ThrottlingException above 2 requests per second per region (the
// region comes from the request's SigV4 credential scope). Every other CloudTrail call
// (DescribeTrails, GetEventSelectors, GetTrailStatus) is passed on to moto unchanged.
import { createServer, type Server } from "node:http";
import { forwardTo, listenOnLoopback, readBody } from "./net.js";

type CtRecord = Record<string, unknown>;

export interface LookupServer {
  url: string;
  /** Requests answered per region, and how many of them were throttled. */
  stats: Map<string, { requests: number; throttled: number }>;
  close(): Promise<void>;
}

const PAGE = 50;
const PER_SECOND = 2;

function attributeMatches(record: CtRecord, key: string, value: string): boolean {
  const identity = (record.userIdentity ?? {}) as Record<string, unknown>;
  const resources = (Array.isArray(record.resources) ? record.resources : []) as { ARN?: string; type?: string }[];
  switch (key) {
    case "EventId":
      return record.eventID === value;
    case "EventName":
      return record.eventName === value;
    case "EventSource":
      return record.eventSource === value;
    case "ReadOnly":
      return String(record.readOnly) === value;
    case "Username":
      return identity.userName === value || String(identity.arn ?? "").endsWith(`/${value}`);
    case "AccessKeyId":
      return identity.accessKeyId === value;
    case "ResourceType":
      return resources.some((r) => r.type === value);
    case "ResourceName":
      return resources.some((r) => r.ARN === value);
    default:
      return false;
  }
}

/** What LookupEvents returns for one record (CloudTrailEvent is the record's JSON text). */
function toEvent(record: CtRecord): Record<string, unknown> {
  const identity = (record.userIdentity ?? {}) as Record<string, unknown>;
  const resources = (Array.isArray(record.resources) ? record.resources : []) as { ARN?: string; type?: string }[];
  return {
    EventId: record.eventID,
    EventName: record.eventName,
    ReadOnly: String(record.readOnly),
    AccessKeyId: identity.accessKeyId,
    EventTime: Date.parse(String(record.eventTime)) / 1000,
    EventSource: record.eventSource,
    Username: identity.userName ?? String(identity.arn ?? "").split("/").pop(),
    Resources: resources.map((r) => ({ ResourceType: r.type, ResourceName: r.ARN })),
    CloudTrailEvent: JSON.stringify(record),
  };
}

/** Serve `records` (every region's) on a loopback port; CloudTrail calls other than LookupEvents go to `motoUrl`. */
export async function startLookupServer(records: CtRecord[], motoUrl: string): Promise<LookupServer> {
  const byRegion = new Map<string, CtRecord[]>();
  for (const r of records) byRegion.set(String(r.awsRegion), [...(byRegion.get(String(r.awsRegion)) ?? []), r]);
  // Newest first, as the event history answers.
  for (const list of byRegion.values()) list.sort((a, b) => Date.parse(String(b.eventTime)) - Date.parse(String(a.eventTime)));
  const recent = new Map<string, number[]>();
  const stats = new Map<string, { requests: number; throttled: number }>();

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const target = String(req.headers["x-amz-target"] ?? "");
      if (!target.endsWith(".LookupEvents")) {
        const upstream = await forwardTo(motoUrl, req, body);
        res.writeHead(upstream.status, { "content-type": upstream.contentType });
        res.end(upstream.bytes);
        return;
      }
      const region = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/cloudtrail\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "us-east-1";
      const s = stats.get(region) ?? { requests: 0, throttled: 0 };
      stats.set(region, s);
      s.requests++;
      const now = Date.now();
      const window = (recent.get(region) ?? []).filter((t) => now - t < 1000);
      const reply = (status: number, doc: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": `lookup-${s.requests}` });
        res.end(JSON.stringify(doc));
      };
      if (window.length >= PER_SECOND) {
        s.throttled++;
        recent.set(region, window);
        return reply(400, { __type: "ThrottlingException", message: "Rate exceeded" });
      }
      window.push(now);
      recent.set(region, window);
      const input = JSON.parse(body.toString("utf8") || "{}") as { LookupAttributes?: { AttributeKey: string; AttributeValue: string }[]; StartTime?: number; EndTime?: number; MaxResults?: number; NextToken?: string };
      const attributes = input.LookupAttributes ?? [];
      if (attributes.length > 1) return reply(400, { __type: "InvalidLookupAttributesException", message: "You cannot specify more than one lookup attribute." });
      const max = input.MaxResults ?? PAGE;
      if (max < 1 || max > PAGE) return reply(400, { __type: "InvalidMaxResultsException", message: "MaxResults must be between 1 and 50." });
      const start = input.StartTime !== undefined ? input.StartTime * 1000 : -Infinity;
      const end = input.EndTime !== undefined ? input.EndTime * 1000 : Infinity;
      const matching = (byRegion.get(region) ?? []).filter((r) => {
        const t = Date.parse(String(r.eventTime));
        return t >= start && t <= end && attributes.every((a) => attributeMatches(r, a.AttributeKey, a.AttributeValue));
      });
      let offset = 0;
      if (input.NextToken) {
        const decoded = /^page:(\d+)$/.exec(Buffer.from(input.NextToken, "base64").toString("utf8"));
        if (!decoded) return reply(400, { __type: "InvalidNextTokenException", message: "Invalid NextToken" });
        offset = Number(decoded[1]);
      }
      const page = matching.slice(offset, offset + max);
      const next = offset + max < matching.length ? Buffer.from(`page:${offset + max}`).toString("base64") : undefined;
      reply(200, { Events: page.map(toEvent), ...(next ? { NextToken: next } : {}) });
    })().catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ __type: "InternalFailure", message: String(error) }));
    });
  });
  return { ...(await listenOnLoopback(server)), stats };
}
