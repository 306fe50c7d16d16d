// A front for moto's Athena, for the two things of dropkeys' Athena call flow that moto cannot show:
// moto's GetQueryResults ignores MaxResults and NextToken and answers every row at once (so a
// client's paging is never exercised), and moto has no FAILED state (a query it is given always
// ends SUCCEEDED or, when stopped, CANCELLED). The real SDK reaches this server through the
// policy's Athena endpoint, over Athena's real protocol (AWS JSON 1.1: POST, x-amz-target
// AmazonAthena.<Operation>), and every call is passed on to moto unchanged, except:
// - GetQueryResults is paged as AWS pages it: the full result set is moto's (what the test seeded),
//   at most MaxResults rows a page (1-1000, default 1000), the header row is the first row of the
//   first page only, and an opaque NextToken is returned until the rows are exhausted;
// - a query whose SQL the test's `fail` function gives a reason for is FAILED: GetQueryExecution
//   answers State FAILED with that StateChangeReason (and AthenaError), and GetQueryResults refuses
//   it with InvalidRequestException, as AWS does. Starting, polling, stopping, listing and the
//   seeded rows themselves are moto's.
import { createServer, type Server } from "node:http";
import { forwardTo, listenOnLoopback, readBody } from "./net.js";

export interface AthenaFront {
  url: string;
  /** GetQueryResults calls answered, per QueryExecutionId. */
  resultCalls: Map<string, number>;
  close(): Promise<void>;
}

const MAX_PAGE = 1000;

/** Athena calls go to moto unchanged through this front; `fail(sql)` returning a reason makes that query FAILED. */
export async function startAthenaFront(motoUrl: string, options: { fail?: (sql: string) => string | undefined } = {}): Promise<AthenaFront> {
  const failed = new Map<string, string>();
  const resultCalls = new Map<string, number>();

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const operation = String(req.headers["x-amz-target"] ?? "").replace(/^AmazonAthena\./, "");
      const input = JSON.parse(body.toString("utf8") || "{}") as { QueryString?: string; QueryExecutionId?: string; MaxResults?: number; NextToken?: string };
      const reply = (status: number, doc: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(doc));
      };
      const invalid = (message: string) => reply(400, { __type: "InvalidRequestException", Message: message, AthenaErrorCode: "INVALID_INPUT" });
      const toMoto = () => forwardTo(motoUrl, req, body);
      const passOn = (up: { status: number; contentType: string; bytes: Buffer }) => {
        res.writeHead(up.status, { "content-type": up.contentType });
        res.end(up.bytes);
      };

      if (operation === "GetQueryResults" && input.QueryExecutionId) {
        const id = input.QueryExecutionId;
        resultCalls.set(id, (resultCalls.get(id) ?? 0) + 1);
        if (failed.has(id)) return invalid("Query did not finish successfully. Final query state: FAILED");
        const max = input.MaxResults ?? MAX_PAGE;
        if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) return invalid(`MaxResults must be between 1 and ${MAX_PAGE}`);
        let offset = 0;
        if (input.NextToken) {
          const decoded = /^(.+):(\d+)$/.exec(Buffer.from(input.NextToken, "base64").toString("utf8"));
          if (!decoded || decoded[1] !== id) return invalid("Invalid NextToken");
          offset = Number(decoded[2]);
        }
        const up = await toMoto();
        if (up.status !== 200) return passOn(up);
        // moto's answer is the whole result set: header row first, then every row.
        const all = JSON.parse(up.bytes.toString("utf8")) as { ResultSet?: { Rows?: unknown[]; ResultSetMetadata?: unknown }; UpdateCount?: number };
        const rows = all.ResultSet?.Rows ?? [];
        const next = offset + max < rows.length ? Buffer.from(`${id}:${offset + max}`).toString("base64") : undefined;
        return reply(200, { ...all, ResultSet: { ...all.ResultSet, Rows: rows.slice(offset, offset + max) }, ...(next ? { NextToken: next } : {}) });
      }

      const up = await toMoto();
      if (operation === "StartQueryExecution" && up.status === 200 && input.QueryString !== undefined) {
        const reason = options.fail?.(input.QueryString);
        const { QueryExecutionId } = JSON.parse(up.bytes.toString("utf8")) as { QueryExecutionId: string };
        if (reason !== undefined) failed.set(QueryExecutionId, reason);
      }
      if (operation === "GetQueryExecution" && up.status === 200 && input.QueryExecutionId && failed.has(input.QueryExecutionId)) {
        const reason = failed.get(input.QueryExecutionId)!;
        const doc = JSON.parse(up.bytes.toString("utf8")) as { QueryExecution: { Status?: Record<string, unknown> } };
        doc.QueryExecution.Status = {
          ...doc.QueryExecution.Status,
          State: "FAILED",
          StateChangeReason: reason,
          CompletionDateTime: Date.now() / 1000,
          AthenaError: { ErrorCategory: 2, Retryable: false, ErrorMessage: reason },
        };
        return reply(200, doc);
      }
      passOn(up);
    })().catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ __type: "InternalServerException", Message: String(error) }));
    });
  });
  return { ...(await listenOnLoopback(server)), resultCalls };
}
