import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ListKeysCommand } from "@aws-sdk/client-kms";
import { afterEach, describe, expect, it } from "vitest";
import { AwsClients, resolveEndpoint } from "../../src/lib/aws/clients.js";

const endpoints = {
  kms: { "eu-north-1": "http://127.0.0.1:4599", "eu-west-1": "http://127.0.0.1:4600" },
  secretsmanager: "http://127.0.0.1:5000",
};

/** A loopback server that answers ListKeys and counts the requests it saw. */
async function fakeEndpoint(): Promise<{ url: string; hits: () => number; server: Server }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.setHeader("content-type", "application/x-amz-json-1.1");
    res.end(JSON.stringify({ Keys: [], Truncated: false }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, server };
}

describe("endpoint precedence", () => {
  afterEach(() => {
    delete process.env.AWS_ENDPOINT_URL;
    delete process.env.AWS_ENDPOINT_URL_KMS;
  });

  it("--endpoint-url wins over the policy, which wins over the SDK's environment", () => {
    expect(resolveEndpoint({ endpointUrl: "http://127.0.0.1:9999", endpoints }, "kms", "eu-north-1")).toBe("http://127.0.0.1:9999");
    expect(resolveEndpoint({ endpoints }, "kms", "eu-west-1")).toBe("http://127.0.0.1:4600");
    expect(resolveEndpoint({ endpoints }, "secretsmanager", "eu-west-1")).toBe("http://127.0.0.1:5000");
    expect(resolveEndpoint({ endpoints }, "kms", "us-east-1")).toBeUndefined();
    expect(resolveEndpoint({ endpoints }, "sts", "eu-north-1")).toBeUndefined();
  });

  it("leaves AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL to the SDK when nothing else is set", async () => {
    const fromEnv = await fakeEndpoint();
    const fromPolicy = await fakeEndpoint();
    const credentials = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };
    Object.assign(process.env, credentials);
    try {
      process.env.AWS_ENDPOINT_URL_KMS = fromEnv.url;
      await new AwsClients({ endpoints: {}, maxAttempts: 1 }).kms("eu-north-1").send(new ListKeysCommand({}));
      expect(fromEnv.hits()).toBe(1);
      await new AwsClients({ endpoints: { kms: fromPolicy.url }, maxAttempts: 1 }).kms("eu-north-1").send(new ListKeysCommand({}));
      expect(fromPolicy.hits()).toBe(1);
      expect(fromEnv.hits()).toBe(1);
      delete process.env.AWS_ENDPOINT_URL_KMS;
      process.env.AWS_ENDPOINT_URL = fromEnv.url;
      await new AwsClients({ endpoints: {}, maxAttempts: 1 }).kms("eu-west-1").send(new ListKeysCommand({}));
      expect(fromEnv.hits()).toBe(2);
    } finally {
      fromEnv.server.close();
      fromPolicy.server.close();
    }
  });

  it("builds one client per service and region", () => {
    const clients = new AwsClients({ endpoints });
    expect(clients.kms("eu-north-1")).toBe(clients.kms("eu-north-1"));
    expect(clients.kms("eu-north-1")).not.toBe(clients.kms("eu-west-1"));
    expect(clients.endpointFor("kms", "eu-west-1")).toBe("http://127.0.0.1:4600");
  });
});
