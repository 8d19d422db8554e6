// The store's typed errors become SMTP replies in the inbound backend only: every kind
// keeps the reply it had (code, enhanced code, text), the front end's own refusal passes
// through, and the backend applies the mapping to each store call it makes.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import {
  PermanentFailure,
  SmtpError,
  TemporaryFailure,
  permFail,
  type Envelope,
  type SessionInfo,
} from "../../../mailservers/core/types.ts";
import { createInboundBackend } from "../../../mailservers/inbound/backend.ts";
import { adminMailbox } from "../../../mailservers/inbound/recipients.ts";
import {
  InvalidOwnerError,
  MailboxHeldError,
  MailboxLockedError,
  MailboxNotProvisionedError,
  NoRoomError,
  PartiallyStoredError,
  QuotaExceededError,
  RollbackFailedError,
  RolledBackError,
  BodyBufferError,
  StoreClosedError,
  StoreUnavailableError,
  UnsafeInboxError,
  UnsafeMailboxRootError,
  type MboxStore,
} from "../../../mailservers/inbound/store/index.ts";
import { storeReply } from "../../../mailservers/inbound/store-replies.ts";

/** A reply as the client reads it. */
const said = (reply: SmtpError) => `${reply.responseCode} ${reply.message}`;

describe("storeReply", () => {
  const cases: ReadonlyArray<[Error, typeof TemporaryFailure | typeof PermanentFailure, string]> = [
    [new StoreClosedError(), TemporaryFailure, "421 4.3.2 Service shutting down"],
    [
      new MailboxLockedError("/m/bob/INBOX", 20_000),
      TemporaryFailure,
      "451 4.2.0 Mailbox is locked by another program, try again later",
    ],
    [
      new MailboxHeldError("/m/bob", 20_000),
      TemporaryFailure,
      "451 4.2.0 Mailbox is under maintenance, try again later",
    ],
    [new MailboxNotProvisionedError("/m/bob"), TemporaryFailure, "451 4.2.1 Mailbox is being set up, try again later"],
    [new QuotaExceededError("full"), PermanentFailure, "552 5.2.2 Mailbox full"],
    [
      new NoRoomError(["bob@semail.test", "carol@semail.test"], [{ needed: 2, available: 1 }]),
      PermanentFailure,
      "552 5.2.2 Message too big for the mailbox of <bob@semail.test>, <carol@semail.test>: it does not have room for it now",
    ],
    [new InvalidOwnerError("../x"), TemporaryFailure, "451 4.3.0 Mailbox configuration error"],
    [
      new UnsafeMailboxRootError("/m/bob"),
      TemporaryFailure,
      "451 4.3.0 Mailbox is misconfigured, contact the postmaster",
    ],
    [
      new UnsafeInboxError("/m/bob/INBOX"),
      TemporaryFailure,
      "451 4.3.0 Mailbox is not a regular file, contact the postmaster",
    ],
    [
      new StoreUnavailableError("recovery failed"),
      TemporaryFailure,
      "451 4.3.0 Mail store unavailable, try again later",
    ],
    [new BodyBufferError(new Error("EIO")), TemporaryFailure, "451 4.3.0 Could not store the message, try again later"],
    [new RolledBackError(new Error("EIO")), TemporaryFailure, "451 4.3.0 Could not write the mailbox, try again later"],
    [
      new RollbackFailedError("/m/bob/INBOX", new Error("EIO")),
      TemporaryFailure,
      "451 4.3.0 Could not write the mailbox, try again later",
    ],
    [
      new PartiallyStoredError([new Error("EIO")]),
      TemporaryFailure,
      "451 4.3.0 Could not write the mailbox, try again later",
    ],
    [new Error("anything else"), TemporaryFailure, "451 4.3.0 Could not store the message, try again later"],
  ];
  for (const [error, type, reply] of cases) {
    it(`${error.name}: ${reply}`, () => {
      const got = storeReply(error, silentLogger(), "T1");
      assert.ok(got instanceof type, `${String(got)} is a ${type.name}`);
      assert.equal(said(got), reply);
    });
  }

  it("passes the front end's own refusal (the message stream's error) through as it is", () => {
    const tooBig = permFail(552, "5.3.4", "Message too big");
    assert.equal(storeReply(tooBig, silentLogger()), tooBig);
  });
});

describe("the inbound backend replies for the store", () => {
  const users = parseUsersList("mailboxes:\n  - owner: ada\n    address: ada@semail.test\n", {
    managedDomain: "semail.test",
    defaultSize: 5 << 20,
    minSize: 1,
  });
  const session: SessionInfo = {
    id: "s1",
    remoteAddress: "192.0.2.1",
    remotePort: 40000,
    localAddress: "127.0.0.1",
    localPort: 25,
    clientHostname: "client.example",
    secure: false,
  };
  const envelope: Envelope = {
    id: "T1",
    session,
    mailFrom: "alice@example.org",
    recipients: ["ada@semail.test"],
    protocol: "ESMTP",
    receivedAt: new Date(),
  };
  /** A store that fails every call with `error`. */
  const failingStore = (error: Error): MboxStore => ({
    provisioned: () => Promise.reject(error),
    usage: () => Promise.reject(error),
    largestMessage: () => Promise.reject(error),
    release: () => Promise.reject(error),
    deliver: (_envelope, _targets, message) => {
      message.resume();
      return Promise.reject(error);
    },
    close: () => Promise.resolve(),
  });
  const backendOver = (store: MboxStore) =>
    createInboundBackend({
      users: () => users,
      managedDomain: "semail.test",
      admin: (list) => adminMailbox(list, undefined, 5 << 20),
      store,
      mailRoot: "/nonexistent",
      minFreeSpace: 0,
      logger: silentLogger(),
      freeSpace: async () => 1 << 30,
    });

  it("at RCPT, a store error while checking the mailbox is its reply", async () => {
    const backend = backendOver(failingStore(new UnsafeMailboxRootError("/m/ada")));
    await assert.rejects(
      backend.checkRecipient!("ada@semail.test", session, [], undefined),
      (e) => e instanceof SmtpError && said(e) === "451 4.3.0 Mailbox is misconfigured, contact the postmaster",
    );
  });

  it("at DATA, a store error while delivering is its reply", async () => {
    const backend = backendOver(failingStore(new MailboxLockedError("/m/ada/INBOX", 20_000)));
    await assert.rejects(
      backend.deliver(envelope, Readable.from([Buffer.from("Subject: x\r\n\r\nhi\r\n")])),
      (e) => e instanceof SmtpError && said(e) === "451 4.2.0 Mailbox is locked by another program, try again later",
    );
  });
});
