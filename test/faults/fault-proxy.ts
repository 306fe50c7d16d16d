// A loopback HTTP proxy in front of an emulator that misbehaves on chosen AWS operations: it
// accepts the connection and never answers (a black hole), or answers ThrottlingException or
// AccessDeniedException, as a stalled VPC endpoint, a throttling KMS or a key policy would. The operation is read from the X-Amz-Target
// header of the JSON protocol ("TrentService.DisableKey").
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";

export type ProxyMode = "forward" | "blackhole" | "throttle" | "deny";

export interface FaultProxy {
  url: string;
  /** Decides per operation ("DisableKey", "ReEncrypt", ...). */
  rule: (operation: string) => ProxyMode;
  counts: Record<string, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, rule: (operation: string) => ProxyMode = () => "forward"): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { url: "", rule, counts: {}, close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const operation = String(req.headers["x-amz-target"] ?? "").split(".").pop() || req.method || "?";
    const mode = proxy.rule(operation);
    proxy.counts[`${operation}:${mode}`] = (proxy.counts[`${operation}:${mode}`] ?? 0) + 1;
    if (mode === "blackhole") {
      req.resume(); // read the request, never answer
      return;
    }
    if (mode === "throttle" || mode === "deny") {
      req.resume();
      req.on("end", () => {
        res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": mode });
        res.end(JSON.stringify(mode === "throttle" ? { __type: "ThrottlingException", message: "Rate exceeded" } : { __type: "AccessDeniedException", message: "not authorized to use this key for this ciphertext" }));
      });
      return;
    }
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  proxy.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
