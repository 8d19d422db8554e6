// The inbound recipient policy as a pure function.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { SmtpError } from "../../../mailservers/core/types.ts";
import {
  adminMailbox,
  FORMER_DOMAIN_MS,
  FormerDomains,
  resolveRecipient,
  type ResolvedRecipient,
} from "../../../mailservers/inbound/recipients.ts";
import { USERS, usersYaml } from "./fixture.ts";

const users = parseUsersList(usersYaml([...USERS, { owner: "boss", address: "boss@semail.test", size: "2GiB" }]), {
  managedDomain: "semail.test",
  defaultSize: 5 << 20,
  minSize: 1,
});
const context = { users, managedDomain: "semail.test", admin: adminMailbox(users, undefined, 7 << 20) };
const resolve = (address: string) => resolveRecipient(address, context);
const refusal = (address: string) => {
  const r = resolve(address);
  assert.ok(r instanceof SmtpError, `${address} should be refused`);
  return `${r.responseCode} ${r.enhancedCode}`;
};

describe("inbound recipient policy", () => {
  it("accepts listed addresses with ASCII case folded in the domain and the local part", () => {
    assert.deepEqual(resolve("souleymane@SOW.Semail.TEST"), {
      owner: "sow",
      quota: 5 << 20,
      address: "souleymane@sow.semail.test",
    });
    assert.equal((resolve("me@external.example") as ResolvedRecipient).owner, "ext");
    assert.deepEqual(resolve("SouleyMANE@sow.semail.test"), {
      owner: "sow",
      quota: 5 << 20,
      address: "souleymane@sow.semail.test",
    });
    assert.equal(refusal("souleymane@sow.semail.test.evil.example"), "550 5.7.1");
  });

  it("takes id+tag@ to id's mailbox with the tag kept in its address, and a tagged role to the role", () => {
    assert.deepEqual(resolve("Souleymane+Shop.2@SOW.semail.test"), {
      owner: "sow",
      quota: 5 << 20,
      address: "souleymane+Shop.2@sow.semail.test",
    });
    assert.deepEqual(resolve("ada+@semail.test"), { owner: "ada", quota: 5 << 20, address: "ada+@semail.test" });
    assert.equal((resolve("postmaster+dmarc@sow.semail.test") as ResolvedRecipient).role, "postmaster");
    assert.equal(refusal("noreply+x@semail.test"), "550 5.1.1");
    assert.equal(refusal("+ada@semail.test"), "550 5.1.1");
    assert.equal(refusal("nobody+ada@semail.test"), "550 5.1.1");
    assert.equal(refusal("ada+x@gmail.com"), "550 5.7.1");
  });

  it("knows no sub-addresses when the separator is off, and only its own separator when set", () => {
    const entries = usersYaml(USERS);
    const options = { managedDomain: "semail.test", defaultSize: 1 << 20, minSize: 1 };
    const off = parseUsersList(entries, { ...options, subaddressSeparator: "" });
    const equals = parseUsersList(entries, { ...options, subaddressSeparator: "=" });
    const at = (list: typeof users, address: string) =>
      resolveRecipient(address, { users: list, managedDomain: "semail.test", admin: adminMailbox(list, undefined, 1) });
    assert.ok(at(off, "ada+x@semail.test") instanceof SmtpError);
    assert.ok(at(equals, "ada+x@semail.test") instanceof SmtpError);
    assert.equal((at(equals, "ada=x@semail.test") as ResolvedRecipient).address, "ada=x@semail.test");
  });

  it("refuses unknown local parts of served domains with 550 5.1.1 and every other domain with 550 5.7.1", () => {
    assert.equal(refusal("nobody@semail.test"), "550 5.1.1");
    assert.equal(refusal("nobody@sow.semail.test"), "550 5.1.1");
    assert.equal(refusal("souleymane@gmail.com"), "550 5.7.1");
    assert.equal(refusal("ada@semail.test.evil.example"), "550 5.7.1");
    assert.equal(refusal("postmaster@gmail.com"), "550 5.7.1");
  });

  it("answers 550 5.1.1, not 5.7.1, for any address of a subdomain of the managed domain that has no mailbox (left, or never made)", () => {
    for (const address of ["ada@other.semail.test", "postmaster@gone.semail.test", "x@a.b.semail.test"])
      assert.equal(refusal(address), "550 5.1.1", address);
    assert.equal(refusal("ada@othersemail.test"), "550 5.7.1", "a look-alike is not a subdomain");
  });

  it("answers 550 5.1.1 for a domain whose last mailbox was deleted, for FORMER_DOMAIN_MS; then it is foreign again", () => {
    let now = 1_000_000;
    const former = new FormerDomains({ clock: () => now });
    const options = { managedDomain: "semail.test", defaultSize: 5 << 20, minSize: 1 };
    const withClaim = `  - owner: carol\n    address: carol@carol.example\n    pendingProof: 0123456789abcdef0123456789abcdef\n`;
    const before = parseUsersList(usersYaml(USERS) + withClaim, options);
    const after = parseUsersList(usersYaml(USERS.filter((u) => u.owner !== "ext")), options);
    const answer = (address: string, list = after) => {
      former.follow(list);
      const r = resolveRecipient(address, {
        users: list,
        managedDomain: "semail.test",
        admin: adminMailbox(list, undefined, 7 << 20),
        formerDomains: former,
      });
      return r instanceof SmtpError ? `${r.responseCode} ${r.enhancedCode}` : r.owner;
    };
    assert.equal(answer("me@external.example", before), "ext");
    assert.equal(answer("me@external.example"), "550 5.1.1", "its address: the user is gone");
    assert.equal(answer("Anyone@EXTERNAL.example"), "550 5.1.1", "any address of the domain");
    assert.equal(answer("carol@carol.example"), "550 5.7.1", "a claim that never went live made no domain ours");
    assert.equal(answer("x@gmail.com"), "550 5.7.1");
    now += FORMER_DOMAIN_MS;
    assert.equal(answer("me@external.example"), "550 5.1.1", "still within FORMER_DOMAIN_MS");
    now += 1;
    assert.equal(answer("me@external.example"), "550 5.7.1", "forgotten after FORMER_DOMAIN_MS");
    // Made again meanwhile: served as any live domain, and forgotten as a former one.
    former.follow(before);
    assert.equal(answer("me@external.example", before), "ext");
  });

  it("sends postmaster@ and abuse@ of every served domain, and a bare <postmaster>, to the admin mailbox", () => {
    for (const address of [
      "postmaster@semail.test",
      "PostMaster@sow.semail.test",
      "abuse@external.example",
      "ABUSE@Semail.Test",
      "Postmaster",
    ]) {
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
    const r = resolveRecipient("abuse@semail.test", {
      users,
      managedDomain: "semail.test",
      admin,
    }) as ResolvedRecipient;
    assert.equal(r.owner, "boss");
  });
});

describe("reserved names and pending claims at inbound", () => {
  it("routes every admin role of the reserved table to the admin mailbox and refuses the no-reply ones", async () => {
    const { RESERVED_LOCAL_PARTS } = await import("../../../config/reserved-names.ts");
    for (const [name, route] of RESERVED_LOCAL_PARTS) {
      const address = `${name.toUpperCase()}@sow.semail.test`;
      if (route === "admin") assert.equal((resolve(address) as ResolvedRecipient).owner, "postmaster", address);
      else assert.equal(refusal(address), "550 5.1.1", address);
    }
    assert.equal((resolve("hostmaster@external.example") as ResolvedRecipient).address, "hostmaster@external.example");
  });

  it("serves no address of a mailbox whose domain is not proven yet, nor its domain's roles", () => {
    const withClaim = parseUsersList(
      `${usersYaml(USERS)}  - owner: carol\n    address: carol@carol.example\n    pendingProof: 0123456789abcdef0123456789abcdef\n`,
      { managedDomain: "semail.test", defaultSize: 5 << 20, minSize: 1 },
    );
    const ctx = { users: withClaim, managedDomain: "semail.test", admin: adminMailbox(withClaim, undefined, 7 << 20) };
    for (const address of ["carol@carol.example", "CAROL@carol.example", "postmaster@carol.example"]) {
      const r = resolveRecipient(address, ctx);
      assert.ok(r instanceof SmtpError, address);
      assert.equal(`${r.responseCode} ${r.enhancedCode}`, "550 5.7.1", address);
    }
    assert.equal((resolveRecipient("souleymane@sow.semail.test", ctx) as ResolvedRecipient).owner, "sow");
  });
});

describe("recipients on several hosts", () => {
  const placed = parseUsersList(
    [
      "mailboxes:",
      "  - {owner: here, address: here@semail.test}",
      "  - {owner: there, address: there@semail.test, aliases: [other], host: b}",
      "  - {owner: going, address: going@semail.test, host: b, moving: c}",
    ].join("\n"),
    { managedDomain: "semail.test", defaultSize: 5 << 20, minSize: 1 },
  );
  const on = (hostName: string | undefined, address: string) =>
    resolveRecipient(address, {
      users: placed,
      managedDomain: "semail.test",
      admin: adminMailbox(placed, undefined, 7 << 20),
      ...(hostName ? { hostName } : {}),
    });

  it("names the host that holds a mailbox when it is not this one, by its address, alias or tag", () => {
    assert.equal((on(undefined, "here@semail.test") as ResolvedRecipient).elsewhere, undefined);
    assert.equal((on("b", "here@semail.test") as ResolvedRecipient).elsewhere, "main");
    for (const address of ["there@semail.test", "other@semail.test", "there+x@semail.test"])
      assert.equal((on("main", address) as ResolvedRecipient).elsewhere, "b", address);
    assert.equal((on("b", "there@semail.test") as ResolvedRecipient).elsewhere, undefined);
    // Roles stay with this host's admin mailbox.
    assert.equal((on("b", "postmaster@semail.test") as ResolvedRecipient).elsewhere, undefined);
  });

  it("refuses a mailbox being moved 451 4.2.1 on every host", () => {
    for (const host of ["main", "b", "c"]) {
      const r = on(host, "Going+tag@semail.test");
      assert.ok(r instanceof SmtpError);
      assert.equal(
        `${r.responseCode} ${r.message}`,
        "451 4.2.1 <Going+tag@semail.test>: mailbox is moving to another server; try again in a few minutes",
      );
    }
  });
});
