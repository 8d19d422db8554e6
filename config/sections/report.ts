// Settings of `semail report` (services/report) for what the other sections do not say: where
// outbound mail leaves from as the world sees it, the Docker engine of the containers, the
// HTTPS addresses to check. Unset, each of those checks says "not applicable".
import * as z from "zod/mini";
import { isIP } from "node:net";
import { nonEmpty } from "./common.ts";

const ip = z
  .string()
  .check(
    z.refine((value) => isIP(value) !== 0, { message: "must be an IP address such as 192.0.2.25 or 2001:db8::25" }),
  );

/** An https URL whose certificate the report checks. */
const httpsUrl = z.string().check(
  z.refine(
    (value) => {
      try {
        const url = new URL(value);
        return url.protocol === "https:" && url.hostname !== "";
      } catch {
        return false;
      }
    },
    { message: "must be an https URL such as https://mail.example.org/" },
  ),
);

export const reportSettings = z.strictObject({
  /**
   * The public addresses outbound mail leaves from, whose reverse DNS is checked; default
   * outbound.delivery.localAddresses when set, else this machine's addresses that are not
   * loopback. On the VM behind the containers' NAT: the VM's addresses.
   */
  outboundAddresses: z.optional(z.array(ip)),
  /** The Docker engine's socket, where the users' (and daemons') containers run; unset: no container check. */
  dockerSocket: z.optional(nonEmpty()),
  /** Name of a mailbox's container, `{owner}` standing for its owner; local mode's are semail-ID-user-{owner}. */
  userContainer: z._default(
    nonEmpty().check(z.includes("{owner}", { message: "must contain {owner}, e.g. semail-user-{owner}" })),
    "semail-user-{owner}",
  ),
  /** The daemons' containers expected beside the users' (semail-inbound, semail-outbound...). */
  containers: z._default(z.array(nonEmpty()), []),
  /** Where the report reaches Dovecot's ports (imap.*Port); default the first imap.listen address (a wildcard on loopback). */
  imapHost: z.optional(nonEmpty()),
  /** HTTPS addresses whose certificate is checked like the mail ports' (the web form, the webmail behind TLS). */
  httpsUrls: z._default(z.array(httpsUrl), []),
  /** local mode's record of the users list it last applied (applied-users.json); the report compares it with the users list. */
  appliedUsersFile: z.optional(nonEmpty()),
});

export type ReportSettings = z.output<typeof reportSettings>;
