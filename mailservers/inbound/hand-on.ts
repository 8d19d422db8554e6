// Mail for a mailbox another SEMail host holds (its users-list entry's `host`), handed to that
// host's inbound daemon (settings.hosts.<name>.smtp) by pass-on.ts. That host's answer is the
// sender's: 250 only after its 250 (stored there), its 4xx or 5xx with its text, 451 4.4.1 when
// it cannot be reached. Nothing is queued here: the sender retries a 4xx.
// The envelope and the bytes go as received, after one line naming this host (HAND_ON_MARKER),
// with `; junk=yes` when our checks judged it junk (DMARC p=quarantine): that host stores it in
// the mailbox's Junk folder. The marker counts only as the first line from a peer (peer-hosts.ts),
// so nobody else can push mail into Junk or stop it as a loop: a message a peer handed to us is
// never handed on again, so hosts whose lists disagree (a says b, b says a) answer 451 4.4.6
// after one hop instead of passing the message round for ever. A peer listed with neither ip nor
// ip6 cannot be told from anyone: its name in a first-line marker still stops a loop, never more.
// STARTTLS is used when the other host offers it, its certificate unchecked, as between MX
// hosts: the hosts' settings carry no CA to check it against.
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { Settings } from "../../config/settings.ts";
import { tempFail, type Envelope } from "../core/types.ts";
import { passOn, type PassOnTimeouts } from "./pass-on.ts";
import { hostPort } from "./submission-settings.ts";
import { peerHosts } from "./peer-hosts.ts";

/** The header a hand-on adds: `X-SEMail-Handed-On: <our host's name>[; junk=yes]`. */
export const HAND_ON_MARKER = "X-SEMail-Handed-On";
/** Bytes read for a marker line; ours are far shorter, so a longer first line is not one. */
const MAX_MARKER_BYTES = 1000;
const MARKER_LINE = new RegExp(
  `^${HAND_ON_MARKER}[ \\t]*:[ \\t]*([a-z0-9-]+)([ \\t]*;[ \\t]*junk=yes)?[ \\t]*\\r?\\n`,
  "i",
);

export interface HandOnOptions {
  /** This host's name (settings.hostName): the marker names it. */
  readonly hostName: string;
  /** The other hosts (settings.hosts). */
  readonly hosts: Settings["hosts"];
  /** Our DNS name (settings.hostname): EHLO. */
  readonly hostname: string;
  readonly logger: Logger;
  /** Waits on the other host. */
  readonly timeouts?: PassOnTimeouts;
}

/** What a peer's marker on a message it handed to us says. */
export interface HandedOn {
  /** The host that handed it on. */
  readonly by: string;
  /** That host judged it junk: it goes to the mailbox's Junk folder. */
  readonly junk: boolean;
}

export interface HandOn {
  /** Throws 451 4.3.0 (and logs the setting to fix) when settings.hosts does not name `host`. */
  check(host: string): void;
  /** A message's marker, when a peer handed it to us (undefined otherwise), and the message whole again. */
  received(envelope: Envelope, message: Readable): Promise<{ handedOn?: HandedOn; message: Readable }>;
  /**
   * Hands the message for the envelope's one recipient to `host`: its 250 text, or the SmtpError
   * to answer; 451 4.4.6 for a message a peer handed to us (`handedOn`).
   */
  send(
    envelope: Envelope,
    host: string,
    message: Readable,
    judged: { readonly junk: boolean; readonly handedOn?: HandedOn },
  ): Promise<string>;
}

/** The message's first line (bounded), and the whole message again as one stream. */
async function readFirstLine(message: Readable): Promise<{ line: string; whole: Readable }> {
  const chunks = message[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < MAX_MARKER_BYTES && !seen.some((chunk) => chunk.includes(0x0a))) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    seen.push(next.value);
    size += next.value.length;
  }
  const head = Buffer.concat(seen);
  const whole = Readable.from(
    (async function* () {
      yield head;
      while (!ended) {
        const next = await chunks.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
    { objectMode: false },
  );
  const end = head.indexOf(0x0a);
  return { line: end < 0 ? "" : head.toString("latin1", 0, end + 1), whole };
}

export function createHandOn(options: HandOnOptions): HandOn {
  const { hosts, hostName, logger } = options;
  const peers = peerHosts({ hosts, hostName });
  const check = (host: string): void => {
    if (hosts[host] !== undefined) return;
    logger.error(
      { host, setting: `hosts.${host}` },
      `the users list puts a mailbox on host ${JSON.stringify(host)}, which settings hosts.${host} does not name: add it (its smtp, mx and mailRoot)`,
    );
    throw tempFail(451, "4.3.0", "Mailbox server not configured here, try again later");
  };

  const received = async (envelope: Envelope, message: Readable) => {
    const peer = peers.at(envelope.session.remoteAddress);
    // Nobody's marker to act on: the message is not even looked at.
    if (peer === undefined && peers.unaddressed.size === 0) return { message };
    const { line, whole } = await readFirstLine(message);
    const marker = MARKER_LINE.exec(line);
    const by = marker?.[1]?.toLowerCase();
    if (by === undefined) return { message: whole };
    if (peer !== undefined) return { handedOn: { by: peer, junk: marker![2] !== undefined }, message: whole };
    // From an address no peer has: only a peer without one may have sent it, and only a loop is stopped.
    if (peers.unaddressed.has(by)) return { handedOn: { by, junk: false }, message: whole };
    return { message: whole };
  };

  const send = async (
    envelope: Envelope,
    host: string,
    message: Readable,
    judged: { readonly junk: boolean; readonly handedOn?: HandedOn },
  ): Promise<string> => {
    check(host);
    const peer = hosts[host]!.smtp;
    const log = logger.child({ session: envelope.session.id, id: envelope.id, part: "hand-on", host, peer });
    if (judged.handedOn) {
      message.resume();
      log.error(
        { recipients: envelope.recipients, from: judged.handedOn.by },
        "a message handed on by another host would be handed on again: the hosts' users lists disagree on where this mailbox is",
      );
      throw tempFail(451, "4.4.6", "Routing loop between mail servers, try again later");
    }
    const { host: address, port } = hostPort(peer);
    return passOn(envelope, message, {
      server: { host: address, port, opportunisticTLS: true, tls: { rejectUnauthorized: false } },
      hostname: options.hostname,
      timeouts: options.timeouts,
      prefix: `${HAND_ON_MARKER}: ${hostName}${judged.junk ? "; junk=yes" : ""}\r\n`,
      texts: {
        unreachable: "The server holding this mailbox is unavailable, try again later",
        tooBig: "Message too big for the server holding this mailbox",
      },
      log: {
        unreachable: (err) => log.warn({ err: err.message }, "cannot reach the host holding the mailbox"),
        passed: (reply) =>
          log.info({ recipients: envelope.recipients, reply }, "handed on to the host holding the mailbox"),
        failed: (failure, refused) => log.info(failure, refused ? "refused by its host" : "hand-on failed"),
      },
    });
  };

  return { check, received, send };
}
