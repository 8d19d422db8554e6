// Settings of the outbound daemon (`semail outbound`) and `semail queue`.
import { z } from "zod";
import { listenAddress } from "./common.ts";

export const outboundSettings = z
  .object({
    /** Loopback and container-network addresses to listen on. */
    listen: z.array(listenAddress).min(1).default(["127.0.0.1:587", "[::1]:587"]),
    /** Spool directory of the queue. */
    spool: z.string().min(1).default("/var/spool/semail"),
  })
  .strict();
