// Loopback servers a test starts itself: a free port, and the plumbing of the test HTTP servers.
import type { IncomingMessage, Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** The whole body of a request to a test server. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Send a request a test server received on to `upstream` (an emulator) unchanged; its answer. */
export async function forwardTo(upstream: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "host" && k !== "content-length") as [string, string][]);
  const answer = await fetch(upstream + (req.url ?? "/"), { method: req.method ?? "POST", headers, body: req.method === "GET" ? undefined : body });
  return { status: answer.status, contentType: answer.headers.get("content-type") ?? "application/x-amz-json-1.1", bytes: Buffer.from(await answer.arrayBuffer()) };
}

/** Start `server` on a free loopback port: its URL and how to close it. */
export async function listenOnLoopback(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
