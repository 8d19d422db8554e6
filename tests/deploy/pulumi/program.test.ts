// The optional secrets (ldapPassword, gandiApiKey): unset or empty is none; set, they must be
// secrets, as Pulumi.yaml cannot enforce for a key with a default.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { optionalSecret } from "../../../deploy/pulumi/program.ts";
import { StackConfigError } from "../../../config/stack/stack-config.ts";

test("an optional secret: empty is none, set as a secret is a secret, set in clear is refused by name", async () => {
  pulumi.runtime.setAllConfig({ "semail:gandiApiKey": "", "semail:ldapPassword": "s3cret" }, ["semail:ldapPassword"]);
  assert.equal(optionalSecret("gandiApiKey"), undefined);
  const password = optionalSecret("ldapPassword")!;
  assert.equal(await pulumi.isSecret(password), true);
  pulumi.runtime.setAllConfig({ "semail:gandiApiKey": "in-clear" }, []);
  assert.throws(
    () => optionalSecret("gandiApiKey"),
    (err: unknown) =>
      err instanceof StackConfigError &&
      /semail:gandiApiKey is stored in clear .*pulumi config set --secret gandiApiKey VALUE/.test(err.message),
  );
});
