// Settings of the self-service web form (`semail web`).
import { z } from "zod";
import { listenAddress } from "./common.ts";

export const webSettings = z
  .object({
    /** Address of the web form. */
    listen: listenAddress.default("127.0.0.1:8080"),
  })
  .strict();
