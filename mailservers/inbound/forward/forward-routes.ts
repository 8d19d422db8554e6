// Which recipients inbound hands on rather than stores, decided at RCPT: a bounce to an SRS
// address of ours and a mailbox with a forward (to outbound's forward account, when forwarding
// is set up), and a mailbox on another SEMail host (to that host, hand-on.ts). Each goes in a
// transaction of its own (452 4.5.3 asks the client to send the rest separately, RFC 5321
// 3.3), so one message is never half handed on and half stored under a single reply.
import type { Srs } from "../../core/srs.ts";
import { SmtpError, permFail, tempFail } from "../../core/types.ts";
import type { ResolvedRecipient } from "../recipients.ts";

export interface ForwardRoutes {
  /** True for an SRS address of ours that verifies; throws 550 5.1.1 for one of ours that is forged or too old. */
  isReturnAddress(address: string): boolean;
  /** Throws 452 4.5.3 when `address` (resolved as `target`, when the caller has it) and the recipients already accepted may not share a transaction. */
  checkAlone(address: string, accepted: readonly string[], target?: ResolvedRecipient | SmtpError): void;
}

/** `srs`: absent when forwarding is not set up (no return addresses; forwards are stored). */
export function createForwardRoutes(
  srs: Srs | undefined,
  managedDomain: string,
  resolve: (address: string) => ResolvedRecipient | SmtpError,
): ForwardRoutes {
  const atOurDomain = (address: string) =>
    address
      .slice(address.lastIndexOf("@") + 1)
      .toLowerCase()
      .replace(/\.$/, "") === managedDomain;
  const isReturnAddress = (address: string): boolean => {
    if (!srs?.looksLike(address) || !atOurDomain(address)) return false;
    if (srs.reverse(address) === undefined)
      throw permFail(550, "5.1.1", "No such address here (an SRS return address that is forged or too old)");
    return true;
  };
  const special = (address: string, resolved?: ResolvedRecipient | SmtpError): boolean => {
    if (srs?.looksLike(address) && atOurDomain(address)) return true;
    const target = resolved ?? resolve(address);
    if (target instanceof SmtpError) return false;
    return target.elsewhere !== undefined || (srs !== undefined && target.forward !== undefined);
  };
  return {
    isReturnAddress,
    checkAlone(address, accepted, target) {
      if (accepted.length > 0 && (special(address, target) || special(accepted[0]!)))
        throw tempFail(452, "4.5.3", "This recipient goes in a transaction of its own: send it again separately");
    },
  };
}
