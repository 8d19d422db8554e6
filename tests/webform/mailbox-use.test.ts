// The mailbox page says how to use the mailbox, from the deployment's settings: where to
// send and with which login, the SSH line of the owner's container (from the applier, as
// `pulumi up` left it), a webmail link only when one is set, and what the size means.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings } from "../../config/settings.ts";
import { TEST_USERS, testDirectoryForFile } from "../helpers/slapd.ts";
import { Client, fakeApplier, startForm, type RunningForm } from "./helpers.ts";

const ldap = testDirectoryForFile();

const SSH = "ssh -J semail-jump@203.0.113.10 alice@172.30.0.5";

/** A fake applier that knows the SSH line of the containers it made, as the Pulumi one does. */
function deployingApplier(lines: Record<string, string>) {
  return { ...fakeApplier(), sshCommand: async (owner: string) => lines[owner] };
}

async function mailboxPage(form: RunningForm, entry: Record<string, unknown>): Promise<string> {
  await form.store.update(() => [entry as { owner: string; address: string }]);
  const client = new Client(form.url);
  const password = TEST_USERS.find((u) => u.uid === entry.owner)!.password;
  assert.equal((await client.login(String(entry.owner), password)).status, 303);
  const page = await client.get("/");
  assert.equal(page.status, 200);
  return page.text;
}

/** The text of the page's "How to send and read mail" list, tags dropped and entities decoded. */
function useSection(page: string): string {
  const section = /<dl id="mailbox-use">([\s\S]*?)<\/dl>/.exec(page)?.[1];
  assert.ok(section, "the page has a section on using the mailbox");
  return section.replace(/<[^>]+>/g, "").replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}

test("production: submission host, port and login, the SSH line of the container, no webmail link when none is set", async (t) => {
  const form = await startForm(t, { directory: ldap.directory, applier: deployingApplier({ alice: SSH }) });
  const page = await mailboxPage(form, { owner: "alice", address: "alice@wonderland.semail.test" });
  const use = useSection(page);
  assert.match(
    use,
    /Outgoing server \(SMTP submission\) semail-outbound, port 587\. Log in as alice with your directory password/,
  );
  assert.ok(use.includes(SSH), use);
  assert.match(
    use,
    /There neomutt \(or mutt\) reads \/mail\/INBOX and your folders in \/mail\/mail\/, and sends through the server above once your password is in ~\/\.semail-password/,
  );
  assert.match(use, /no SSH key yet/, "a mailbox without keys is told how to get in");
  assert.doesNotMatch(page, /Webmail/, "no link to a webmail that does not exist");
  // Mail programs: the address is the login; the VM's public ports, TLS from the first byte first.
  assert.match(
    use,
    /Mail programs\nThunderbird and most phones set themselves up: give them your address alice@wonderland\.semail\.test and your directory password\./,
  );
  assert.match(
    use,
    /by hand: incoming IMAP mx\.semail\.test port 993 \(SSL\/TLS\) or 143 \(STARTTLS\); or POP3 port 995 \(SSL\/TLS\); outgoing SMTP mx\.semail\.test port 465 \(SSL\/TLS\) or 587 \(STARTTLS\); the user name is your address\./,
  );
});

test("mail programs are told the mail host and ports given (local mode's own), and nothing of a service on port 0", async (t) => {
  const form = await startForm(t, {
    directory: ldap.directory,
    mailClients: { host: "127.0.0.1", ports: { imap: 1143, imaps: 1993, pop3s: 0, submission: 0, submissions: 2465 } },
  });
  const use = useSection(await mailboxPage(form, { owner: "alice", address: "alice@wonderland.semail.test" }));
  assert.match(
    use,
    /by hand: incoming IMAP 127\.0\.0\.1 port 1993 \(SSL\/TLS\) or 1143 \(STARTTLS\); outgoing SMTP 127\.0\.0\.1 port 2465 \(SSL\/TLS\); the user name/,
  );
  assert.doesNotMatch(use, /POP3/);
});

test("the operator's submission address and webmail are shown, the webmail link filling in the address; a mailbox with a key is not asked for one", async (t) => {
  const form = await startForm(t, {
    directory: ldap.directory,
    applier: deployingApplier({ alice: SSH }),
    web: { submission: "smtp.example.org:2525", webmailUrl: "https://webmail.example.org/" },
  });
  const page = await mailboxPage(form, {
    owner: "alice",
    address: "alice@wonderland.semail.test",
    sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqx alice@laptop"],
  });
  const use = useSection(page);
  assert.match(use, /smtp\.example\.org, port 2525/);
  assert.doesNotMatch(use, /no SSH key yet/);
  // Roundcube's login page says nothing of which login to use: the link fills in the address and says so.
  assert.match(
    page,
    /<a href="https:\/\/webmail\.example\.org\/\?_user&#61;alice%40wonderland\.semail\.test">https:\/\/webmail\.example\.org\/<\/a>\. Log in there with your address <span class="address">alice@wonderland\.semail\.test<\/span>/,
  );
});

test("before the container exists the page says where the SSH line will appear", async (t) => {
  const form = await startForm(t, { directory: ldap.directory, applier: deployingApplier({}) });
  const use = useSection(await mailboxPage(form, { owner: "alice", address: "alice@wonderland.semail.test" }));
  assert.match(use, /The SSH command that opens it is shown here once the system has made the container/);
});

test("the size is explained: the mailbox's own filesystem, set by the administrator, 452 4.2.2 when full", async (t) => {
  const form = await startForm(t, { directory: ldap.directory, usage: async () => 3 * 1024 ** 2 });
  const page = await mailboxPage(form, { owner: "bob", address: "bob@bob.semail.test" });
  const explained = /<p class="hint" id="size-explained">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? "";
  assert.match(
    explained,
    /quota: your mail is kept on a filesystem of its own, this big, the default size for new mailboxes\. The administrator sets it/,
  );
  assert.match(
    explained,
    /When it is full, new mail is not accepted: senders' servers are told <code>452 4\.2\.2<\/code>/,
  );
  assert.match(page, /<dt>Used<\/dt><dd>3 MiB of 1 GiB \(0 %\)<\/dd>/);
});

test("the page says the largest message the mailbox takes now, and why it is under half the room left", async (t) => {
  const largest = new Map([
    ["alice", 27_576_316],
    ["bob", 0],
  ]);
  const form = await startForm(t, { directory: ldap.directory, largestMessage: async (owner) => largest.get(owner) });
  const alice = await mailboxPage(form, { owner: "alice", address: "alice@wonderland.semail.test", size: "64MiB" });
  assert.match(alice, /<dt>Largest message<\/dt><dd id="largest-message">26 MiB right now<\/dd>/);
  const explained = /<p class="hint" id="size-explained">([\s\S]*?)<\/p>/.exec(alice)?.[1] ?? "";
  assert.match(
    explained,
    /Each message is kept twice, in <code>INBOX<\/code> and in the folder of its sender, so the largest message the mailbox takes is a little under half the room left: a bigger one goes back to its sender at once \(<code>552 5\.2\.2<\/code>\)/,
  );
  const bob = await mailboxPage(form, { owner: "bob", address: "bob@bob.semail.test" });
  assert.match(bob, /<dd id="largest-message">none right now: the mailbox is full<\/dd>/);
  // Where the form cannot ask the store (the VM's form runs apart from it), no figure is made up.
  const production = await startForm(t, { directory: ldap.directory });
  assert.doesNotMatch(
    await mailboxPage(production, { owner: "alice", address: "alice@wonderland.semail.test" }),
    /Largest message/,
  );
});

test("a bad web.submission or web.webmailUrl stops start-up naming the setting", () => {
  assert.throws(
    () => parseSettings({ web: { submission: "semail-outbound" } }, "test.yaml"),
    /web\.submission: must be HOST:PORT/,
  );
  assert.throws(
    () => parseSettings({ web: { submission: "mail.example.org:70000" } }, "test.yaml"),
    /web\.submission: must be HOST:PORT/,
  );
  assert.throws(
    () => parseSettings({ web: { webmailUrl: "javascript:alert(1)" } }, "test.yaml"),
    /web\.webmailUrl: must be an http\(s\) URL/,
  );
  assert.equal(
    parseSettings({}, "test.yaml").web.submission,
    "semail-outbound:587",
    "the address the users' containers reach",
  );
});
