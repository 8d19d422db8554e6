// The pure parts of list delivery: which lists are served, who may post, which copies, which fields.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, it } from "node:test";
import type { MailingList } from "../../../../config/mailing-lists.ts";
import { parseUsersList } from "../../../../config/users-list.ts";
import { silentLogger } from "../../../../lib/logger.ts";
import { PrependHeaders, listHeaders } from "../../../../mailservers/inbound/lists/list-headers.ts";
import { listTable } from "../../../../mailservers/inbound/lists/list-table.ts";
import { listMembers } from "../../../../mailservers/core/list-members.ts";
import { postingRefusal, postingUnauthenticated } from "../../../../mailservers/inbound/lists/posting.ts";
import { usersYaml } from "../fixture.ts";

const users = parseUsersList(
  usersYaml([
    { owner: "ada", address: "ada@semail.test", aliases: ["ada.l"] },
    { owner: "sow", address: "souleymane@sow.semail.test" },
    { owner: "ext", address: "me@external.example" },
  ]),
  { managedDomain: "semail.test", defaultSize: 5 << 20, minSize: 1 },
);

const list = (overrides: Partial<MailingList> = {}): MailingList => ({
  dn: "cn=team,ou=groups,dc=semail,dc=test",
  name: "team",
  address: "team@semail.test",
  members: [{ uid: "ada" }, { uid: "sow", mail: "sow@old.example" }, { uid: "carol", mail: "carol@remote.test" }],
  owners: [{ uid: "ada", mail: "ada@semail.test" }],
  rule: "members",
  moderators: [],
  ...overrides,
});

const reply = (error: { responseCode: number; enhancedCode: string; message: string } | undefined) =>
  error && `${error.responseCode} ${error.message}`;

describe("mailing list policy", () => {
  it("serves a list only at an address no mailbox, role or other list has, on the managed domain or one its people proved", () => {
    const table = listTable(
      [
        list(),
        list({ dn: "cn=a", address: "ada.l@semail.test" }),
        list({ dn: "cn=b", address: "postmaster@semail.test" }),
        list({ dn: "cn=c", address: "news@foreign.example" }),
        list({ dn: "cn=d", address: "dup@semail.test" }),
        list({ dn: "cn=e", address: "dup@semail.test" }),
        list({ dn: "cn=f", address: "ada+tag@semail.test" }),
        list({ dn: "cn=g", address: "club@external.example", owners: [{ uid: "ext" }] }),
        list({ dn: "cn=h", address: "other@external.example" }),
        list({ dn: "cn=i", address: "team@sow.semail.test", members: [{ uid: "ada" }] }),
      ],
      users,
      "semail.test",
      silentLogger(),
    );
    assert.deepEqual([...table.keys()].sort(), ["club@external.example", "team@semail.test"]);
  });

  it("lets members post from their mail or their mailbox's addresses, and names the rule when it refuses", () => {
    assert.equal(postingRefusal(list(), "ADA@semail.test", users), undefined);
    assert.equal(postingRefusal(list(), "ada.l@semail.test", users), undefined, "an alias of a member's mailbox");
    assert.equal(postingRefusal(list(), "carol@remote.test", users), undefined, "a remote member's mail");
    assert.equal(
      reply(postingRefusal(list(), "eve@elsewhere.test", users)),
      '550 5.7.1 <team@semail.test>: only its members may post to this list (rule "post: members")',
    );
    assert.equal(postingRefusal(list({ rule: "anyone" }), "eve@elsewhere.test", users), undefined);
    assert.match(reply(postingRefusal(list({ rule: "anyone" }), "", users)) ?? "", /^550 5\.7\.1 .*null sender/);
    const moderated = list({ rule: "moderators", moderators: [{ uid: "sow" }] });
    assert.equal(postingRefusal(moderated, "souleymane@sow.semail.test", users), undefined);
    assert.match(
      reply(postingRefusal(moderated, "ada@semail.test", users)) ?? "",
      /only its moderators .*"post: moderators"/,
    );
  });

  it("asks an authenticated sender (SPF or DMARC pass) of a list that is not open to anyone", () => {
    assert.equal(postingUnauthenticated(list(), "ada@semail.test", undefined), undefined, "checks did not run");
    assert.equal(postingUnauthenticated(list(), "ada@semail.test", { spf: "pass", dmarc: "none" }), undefined);
    assert.equal(postingUnauthenticated(list(), "ada@semail.test", { spf: "fail", dmarc: "pass" }), undefined);
    assert.match(
      reply(postingUnauthenticated(list(), "ada@semail.test", { spf: "softfail", dmarc: "none" })) ?? "",
      /^550 5\.7\.1 <team@semail\.test>: rule "post: members" needs the sender <ada@semail\.test> authenticated/,
    );
    assert.equal(
      postingUnauthenticated(list({ rule: "anyone" }), "x@y.test", { spf: "fail", dmarc: "fail" }),
      undefined,
    );
  });

  it("makes one copy per local mailbox (by uid, else by mail) and names the remote and unreachable members", () => {
    const members = listMembers(
      list({
        members: [
          { uid: "ada" },
          { mail: "ada.l@semail.test" },
          { uid: "sow", mail: "sow@old.example" },
          { uid: "carol", mail: "carol@remote.test" },
          { uid: "gone", mail: "gone@semail.test" },
        ],
      }),
      users,
      "semail.test",
    );
    assert.deepEqual(
      members.local.map((m) => [m.owner, m.recipient]),
      [
        ["ada", "ada@semail.test"],
        ["sow", "souleymane@sow.semail.test"],
      ],
    );
    assert.deepEqual(members.remote, ["carol@remote.test"]);
    assert.deepEqual(members.unreachable, ["gone@semail.test"]);
  });

  it("writes the List-* fields before the message, with directory values that cannot add a line", async () => {
    const headers = listHeaders(list({ name: 'Team "A"\r\nBcc: x@y', address: "my_team@semail.test" }));
    assert.equal(
      headers,
      'List-Id: "Team A Bcc: x@y" <my-team.semail.test>\r\n' +
        "List-Post: <mailto:my_team@semail.test>\r\n" +
        "List-Unsubscribe: <mailto:ada@semail.test?subject=unsubscribe%20my_team%40semail.test>\r\n" +
        "Precedence: list\r\n",
    );
    assert.doesNotMatch(listHeaders(list({ owners: [] })), /List-Unsubscribe/);
    const out = new PrependHeaders("X-A: 1\r\n");
    Readable.from([Buffer.from("Subject: s\r\n\r\nbody\r\n")]).pipe(out);
    assert.equal((await buffer(out)).toString(), "X-A: 1\r\nSubject: s\r\n\r\nbody\r\n");
  });
});
