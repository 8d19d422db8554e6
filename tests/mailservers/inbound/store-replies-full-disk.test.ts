// An append that runs out of space on the mailbox's own filesystem (another program filled it
// after the room check) is the temporary "mailbox full" of RCPT, 452 4.2.2, not a local error.
import assert from "node:assert/strict";
import { it } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { TemporaryFailure } from "../../../mailservers/core/types.ts";
import { shortWriteError } from "../../../mailservers/inbound/store/append/batch-writer.ts";
import { RolledBackError, faultError } from "../../../mailservers/inbound/store/index.ts";
import { storeReply } from "../../../mailservers/inbound/store-replies.ts";

const reply = (cause: Error) => {
  const got = storeReply(new RolledBackError(cause), silentLogger(), "T1");
  assert.ok(got instanceof TemporaryFailure);
  return `${got.responseCode} ${got.message}`;
};

it("ENOSPC, EDQUOT or a short write in an append: 452 4.2.2", () => {
  for (const cause of [faultError("ENOSPC"), faultError("EDQUOT"), shortWriteError("/m/bob/INBOX", 10, 20)])
    assert.equal(reply(cause), "452 4.2.2 Mailbox full, try again later", cause.message);
});

it("any other I/O error in an append stays 451 4.3.0", () => {
  for (const cause of [faultError("EIO"), faultError("EROFS"), new Error("no code")])
    assert.equal(reply(cause), "451 4.3.0 Could not write the mailbox, try again later", cause.message);
});
