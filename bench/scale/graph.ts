// The Pulumi program's side of bench/scale: defineStack (components/stack.ts, what index.ts
// runs) under Pulumi's mocks, with the same mock monitor the component tests use
// (testkit/pulumi-mocks/harness.ts), timed from the first resource to the last registration
// answered. The users list is parsed before the clock starts (it is timed on its own).
import * as pulumi from "@pulumi/pulumi";
import { defineStack } from "../../components/stack.ts";
import { parseStackConfig } from "../../config/stack/stack-config.ts";
import { parseUsersList } from "../../config/users-list.ts";
import { record } from "../../testkit/pulumi-mocks/harness.ts";
import { PROJECT_DIR, SECRET_KEYS, baseConfig } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { BENCH_DOMAIN, BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface GraphSample {
  readonly ms: number;
  readonly resources: number;
}

/** Builds the whole program's resource graph for a list of `count` mailboxes. */
export async function buildGraph(count: number): Promise<GraphSample> {
  const users = parseUsersList(syntheticUsersYaml(count), BENCH_LIST_OPTIONS);
  const started = performance.now();
  const { resources } = await record(baseConfig({ managedDomain: BENCH_DOMAIN }), SECRET_KEYS, () => {
    const config = new pulumi.Config("semail");
    return defineStack(
      parseStackConfig((key) => config.get(key)),
      {
        sshPrivateKey: config.requireSecret("sshPrivateKey"),
        ldapPassword: config.getSecret("ldapPassword"),
        gandiApiKey: config.getSecret("gandiApiKey"),
      },
      users,
      PROJECT_DIR,
    );
  });
  return { ms: performance.now() - started, resources: resources.length };
}
