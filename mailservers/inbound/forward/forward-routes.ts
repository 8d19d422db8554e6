// Which recipients inbound hands to outbound's forward account rather than the store, decided
// at RCPT: a bounce to an SRS address of ours, and a mailbox with a forward. Each goes in a
// transaction of its own (452 4.5.3 asks the client to send the rest separately, RFC 5321
// 3.3), so one message is never half forwarded and half stored under a single reply.
import type { Srs } from "../../core/srs.ts";
import { SmtpError, permFail, tempFail } from "../../core/types.ts";
import type { ResolvedRecipient } from "../recipients.ts";

export interface ForwardRoutes {
  /** True for an SRS address of ours that verifies; throws 550 5.1.1 for one of ours that is forged or too old. */
  isReturnAddress(address: string): boolean;
  /** Throws 452 4.5.3 when `address` and the recipients already accepted may not share a transaction. */
  checkAlone(address: string, accepted: readonly string[]): void;
}

export function createForwardRoutes(
  srs: Srs,
  managedDomain: string,
  resolve: (address: string) => ResolvedRecipient | SmtpError,
): ForwardRoutes {
  const atOurDomain = (address: string) =>
    address
      .slice(address.lastIndexOf("@") + 1)
      .toLowerCase()
      .replace(/\.$/, "") === managedDomain;
  const isReturnAddress = (address: string): boolean => {
    if (!srs.looksLike(address) || !atOurDomain(address)) return false;
    if (srs.reverse(address) === undefined)
      throw permFail(550, "5.1.1", "No such address here (an SRS return address that is forged or too old)");
    return true;
  };
  const special = (address: string): boolean => {
    if (srs.looksLike(address) && atOurDomain(address)) return true;
    const target = resolve(address);
    return !(target instanceof SmtpError) && target.forward !== undefined;
  };
  return {
    isReturnAddress,
    checkAlone(address, accepted) {
      if (accepted.length > 0 && (special(address) || special(accepted[0]!)))
        throw tempFail(452, "4.5.3", "This recipient goes in a transaction of its own: send it again separately");
    },
  };
}
