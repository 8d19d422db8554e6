// Mozilla autoconfig (config/autoconfig.ts), answered to anyone who asks. Properties:
// - a domain is answered only when it is served, and the document names exactly that served
//   domain (never another spelling of it);
// - a document is well-formed XML of the one shape: its domain and provider read back as given,
//   and it lists the offered servers, in order, with no others;
// - a document's file name is a plain lowercase `<domain>.xml` or refused; the 404 text is one line.
import { MAIN_HOST } from "../../config/mailbox-host.ts";
import assert from "node:assert/strict";
import { askedDomain, autoconfigFileName, autoconfigFiles, notServedText } from "../../config/autoconfig.ts";
import type { MailClientServers } from "../../config/mail-clients.ts";
import { domainProblem, type MailboxEntry, UsersList } from "../../config/users-list.ts";
import { Input } from "../input.ts";

const DOMAINS = ["semail.test", "alice.semail.test", "example.org", "xn--ls8h.example", "k.example", "a-b.c0.example"];
/** Strings whose case folds surprise: the Kelvin sign lowercases to 'k', dotted capital I to "i̇". */
const TRICKY = ["\u212a", "\u0130", "\u017f", "\u00df", "\uff41", ".", "@", "%40", ":443", "autoconfig."];

function text(input: Input): string {
  let out = "";
  for (let n = input.int(6); n > 0; n--) out += input.bool() ? input.pick([...DOMAINS, ...TRICKY]) : input.string(12);
  return out;
}

function entry(domain: string, i: number): MailboxEntry {
  return {
    owner: `o${i}`,
    address: `u${i}@${domain}`,
    localPart: `u${i}`,
    domain,
    kind: "external",
    size: 1,
    aliases: [],
    defaultSize: true,
    sshKeys: [],
    host: MAIN_HOST,
  };
}

const fromXml = (s: string) => s.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));

/** The document's parts, or a failure naming what is not of the one shape. */
function read(xml: string) {
  const match =
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<clientConfig version="1\.1">\n {2}<emailProvider id="([^"<&]*(?:&#\d+;[^"<&]*)*)">\n {4}<domain>([^<&]*(?:&#\d+;[^<&]*)*)<\/domain>\n {4}<displayName>SEMail \(([^<&]*(?:&#\d+;[^<&]*)*)\)<\/displayName>\n {4}<displayShortName>SEMail<\/displayShortName>\n((?: {4}<(?:incoming|outgoing)Server type="\w+">\n(?: {6}<\w+>[^<]*<\/\w+>\n)+ {4}<\/(?:incoming|outgoing)Server>\n)*)\n? {2}<\/emailProvider>\n<\/clientConfig>\n$/.exec(
      xml,
    );
  assert.ok(match, `a document of the one shape:\n${xml}`);
  // XML 1.0's Char production: no C0 controls but tab and line breaks, no lone surrogates, no U+FFFE/U+FFFF.
  assert.ok(!/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/.test(xml) && xml.isWellFormed(), "only XML characters");
  const servers = [
    ...match[4]!.matchAll(
      /<(incoming|outgoing)Server type="(\w+)">\n {6}<hostname>([^<]*)<\/hostname>\n {6}<port>(\d+)<\/port>\n {6}<socketType>(\w+)<\/socketType>/g,
    ),
  ].map((m) => `${m[2]} ${fromXml(m[3]!)} ${m[4]} ${m[5]}`);
  return { provider: fromXml(match[1]!), domain: fromXml(match[2]!), name: fromXml(match[3]!), servers };
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const domains = [
    ...new Set(Array.from({ length: 1 + input.int(3) }, () => (input.bool() ? input.pick(DOMAINS) : input.string(20)))),
  ].filter((d) => domainProblem(d) === undefined);
  const list = new UsersList(domains.map(entry));
  const provider = input.pick(DOMAINS);
  const port = () => (input.bool() ? 0 : 1 + input.int(65534));
  const servers: MailClientServers = {
    // The mail host comes from the settings (mx.<managedDomain>), never from the asker.
    host: input.pick([`mx.${provider}`, "127.0.0.1", "mail.example.org", "a&b<c>'d\""]),
    ports: { imap: port(), imaps: port(), pop3s: port(), submission: port(), submissions: port() },
  };
  // The question, as the web form takes it: ?emailaddress= and the Host header.
  const email = input.bool() ? text(input) : undefined;
  const host = text(input);
  const asked = askedDomain(email, host);
  assert.equal(notServedText(asked).indexOf("\n"), notServedText(asked).length - 1, "the 404 text is one line");
  if (list.hasDomain(asked))
    assert.ok(list.domains().has(asked), `answered for ${JSON.stringify(asked)}, not a served domain`);
  const { ports } = servers;
  const offered = [
    ports.imaps && `imap ${servers.host} ${ports.imaps} SSL`,
    ports.imap && `imap ${servers.host} ${ports.imap} STARTTLS`,
    ports.pop3s && `pop3 ${servers.host} ${ports.pop3s} SSL`,
    ports.submissions && `smtp ${servers.host} ${ports.submissions} SSL`,
    ports.submission && `smtp ${servers.host} ${ports.submission} STARTTLS`,
  ].filter((s) => typeof s === "string");
  const files = autoconfigFiles(list, provider, servers);
  assert.deepEqual(Object.keys(files).sort(), domains.map((d) => `${d}.xml`).sort(), "one file per served domain");
  for (const domain of domains) {
    const doc = read(files[autoconfigFileName(domain)]!);
    assert.deepEqual(doc, { provider, domain, name: provider, servers: offered }, "the document reads back");
  }
  // Any string: a file name is a plain `<domain>.xml`, or refused.
  const name = input.string(30);
  try {
    const file = autoconfigFileName(name);
    assert.ok(/^[a-z0-9][a-z0-9.-]*\.xml$/.test(file) && !file.includes(".."), file);
  } catch (err) {
    assert.ok(err instanceof Error && err.message.startsWith("autoconfig:"));
  }
}
