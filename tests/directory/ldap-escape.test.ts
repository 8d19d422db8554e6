// Escaping a login name into a DN and a filter: the strings, and what a real slapd makes of them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Client, InvalidCredentialsError } from "ldapts";
import { escapeDnValue, userDnFromTemplate, userFilterFromTemplate } from "../../directory/ldap-escape.ts";
import { slapdForFile } from "../helpers/slapd.ts";

describe("escapeDnValue (RFC 4514)", () => {
  it("escapes the special characters, a leading space or #, a trailing space and NUL", () => {
    assert.equal(escapeDnValue("alice"), "alice");
    assert.equal(escapeDnValue('a,b+c"d\\e<f>g;h=i'), 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
    assert.equal(escapeDnValue(" #a b "), "\\ #a b\\ ");
    assert.equal(escapeDnValue("#x"), "\\#x");
    assert.equal(escapeDnValue("a\0b"), "a\\00b");
    assert.equal(escapeDnValue("é "), "é\\ ");
  });

  it("puts the escaped value in every {uid} of the template, $ patterns included", () => {
    assert.equal(userDnFromTemplate("uid={uid},ou=people,dc=x", "a,ou=admins"), "uid=a\\,ou\\=admins,ou=people,dc=x");
    assert.equal(userDnFromTemplate("uid={uid},cn={uid}", "$&"), "uid=$&,cn=$&");
  });
});

describe("userFilterFromTemplate", () => {
  it("escapes *, (, ), \\ and NUL in every {uid}", () => {
    assert.equal(userFilterFromTemplate("(uid={uid})", "*)(uid=*"), "(uid=\\2a\\29\\28uid=\\2a)");
    assert.equal(
      userFilterFromTemplate("(|(uid={uid})(mail={uid}))", "a\\b\0"),
      "(|(uid=a\\5cb\\00)(mail=a\\5cb\\00))",
    );
    assert.equal(userFilterFromTemplate("(uid={uid})", "alice"), "(uid=alice)");
  });
});

describe("escaped values against slapd", () => {
  const slapd = slapdForFile();

  async function withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: slapd.url, timeout: 3000, connectTimeout: 3000 });
    try {
      return await work(client);
    } finally {
      await client.unbind();
    }
  }

  it("an injected filter matches nothing, where the unescaped one would match everyone", async () => {
    for (const login of ["*)(uid=*", "admin)(|(uid=*", "*", "ad*"]) {
      const filter = userFilterFromTemplate("(&(objectClass=inetOrgPerson)(uid={uid}))", login);
      const found = await withClient((c) => c.search(slapd.baseDn, { filter, scope: "sub" }));
      assert.equal(found.searchEntries.length, 0, filter);
    }
    const everyone = await withClient((c) =>
      c.search(slapd.baseDn, { filter: "(&(objectClass=inetOrgPerson)(uid=*))", scope: "sub" }),
    );
    assert.equal(everyone.searchEntries.length, 3);
  });

  it("an injected DN is one literal value: the bind is refused as bad credentials", async () => {
    const dn = userDnFromTemplate(slapd.userDnTemplate, "admin,ou=people,dc=semail,dc=test");
    await assert.rejects(
      withClient((c) => c.bind(dn, "admin-Secret3")),
      InvalidCredentialsError,
    );
  });
});
