// The External Events services of Restate's TypeScript docs, as a remote endpoint of the tests.
// Usage: node endpoint.mjs PORT MODE   (MODE: h2c = bidi over HTTP/2, http1 = request/response)
// RUNS_FILE (env) gets one line per execution of a ctx.run body.
import * as restate from "@restatedev/restate-sdk";
import { appendFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";

const record = (line) => {
  if (process.env.RUNS_FILE) appendFileSync(process.env.RUNS_FILE, line + "\n");
  return line;
};

const approvals = restate.service({
  name: "TsApprovals",
  handlers: {
    request: async (ctx, doc) => {
      const { id, promise } = ctx.awakeable();
      await ctx.run("notify", () => record(`${doc} ${id}`));
      return `${doc}: ${await promise}`;
    },
  },
});

const review = restate.workflow({
  name: "TsReview",
  handlers: {
    run: async (ctx, doc) => {
      const verdict = await ctx.promise("verdict");
      return `${doc}: ${verdict}`;
    },
    submit: async (ctx, verdict) => {
      await ctx.promise("verdict").resolve(verdict);
    },
  },
});

const [port, mode] = process.argv.slice(2);
const handler = restate.createEndpointHandler({ services: [approvals, review] });
const server = mode === "http1" ? http.createServer(handler) : http2.createServer(handler);
server.listen(Number(port), "127.0.0.1");
