// Settings of the inbound daemon (`semail inbound`).
import { z } from "zod";
import { listenAddress, size } from "./common.ts";

export const inboundSettings = z
  .object({
    /** Addresses to listen on; "/tls" marks implicit TLS (465). */
    listen: z.array(listenAddress).min(1).default(["[::]:25", "[::]:587", "[::]:465/tls"]),
    /** Directory holding one mailbox root per owner: <mailRoot>/<owner>/. */
    mailRoot: z.string().min(1).default("/var/mail/semail"),
    /** Largest message accepted (advertised as SIZE). */
    maxMessageSize: size("size").default(50 * 1024 ** 2),
  })
  .strict();
