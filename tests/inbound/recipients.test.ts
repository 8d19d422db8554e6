// The inbound recipient policy as a pure function.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseUsersList } from "../../config/users-list.ts";
import { SmtpError } from "../../mailservers/core/types.ts";
import { adminMailbox, resolveRecipient, type ResolvedRecipient } from "../../mailservers/inbound/recipients.ts";
import { USERS, usersYaml } from "./fixture.ts";

const users = parseUsersList(usersYaml([...USERS, { owner: "boss", address: "boss@semail.test", size: "2GiB" }]), { managedDomain: "semail.test", defaultSize: 5 << 20, minSize: 1 });
const context = { users, managedDomain: "semail.test", admin: adminMailbox(users, undefined, 7 << 20) };
const resolve = (address: string) => resolveRecipient(address, context);
const refusal = (address: string) => {
  const r = resolve(address);
  assert.ok(r instanceof SmtpError, `${address} should be refused`);
  return `${r.responseCode} ${r.enhancedCode}`;
};

describe("inbound recipient policy", () => {
  it("accepts listed addresses, with the domain in any case and the local part exact", () => {
    assert.deepEqual(resolve("souleymane@SOW.Semail.TEST"), { owner: "sow", quota: 5 << 20, address: "souleymane@sow.semail.test" });
    assert.equal((resolve("me@external.example") as ResolvedRecipient).owner, "ext");
    assert.equal(refusal("Souleymane@sow.semail.test"), "550 5.1.1");
  });

  it("refuses unknown local parts of served domains with 550 5.1.1 and every other domain with 550 5.7.1", () => {
    assert.equal(refusal("nobody@semail.test"), "550 5.1.1");
    assert.equal(refusal("nobody@sow.semail.test"), "550 5.1.1");
    assert.equal(refusal("souleymane@gmail.com"), "550 5.7.1");
    assert.equal(refusal("ada@semail.test.evil.example"), "550 5.7.1");
    assert.equal(refusal("postmaster@gmail.com"), "550 5.7.1");
    assert.equal(refusal("ada@other.semail.test"), "550 5.7.1", "a subdomain with no mailbox is not served");
  });

  it("sends postmaster@ and abuse@ of every served domain, and a bare <postmaster>, to the admin mailbox", () => {
    for (const address of ["postmaster@semail.test", "PostMaster@sow.semail.test", "abuse@external.example", "ABUSE@Semail.Test", "Postmaster"]) {
      const r = resolve(address);
      assert.ok(!(r instanceof SmtpError), address);
      assert.equal(r.owner, "postmaster");
      assert.equal(r.quota, 7 << 20);
    }
    assert.equal((resolve("Abuse@SOW.semail.test") as ResolvedRecipient).address, "abuse@sow.semail.test");
  });

  it("uses the configured admin owner, with that mailbox's quota", () => {
    const admin = adminMailbox(users, "boss", 7 << 20);
    assert.deepEqual(admin, { owner: "boss", quota: 2 * 1024 ** 3 });
    const r = resolveRecipient("abuse@semail.test", { users, managedDomain: "semail.test", admin }) as ResolvedRecipient;
    assert.equal(r.owner, "boss");
  });
});
