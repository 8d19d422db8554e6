// Picks the applier named by web.apply.mode.
import type { Settings } from "../config/settings.ts";
import { ConfigError } from "../config/settings.ts";
import { createPulumiApplier } from "./pulumi/applier.ts";
import type { Applier } from "../config/applier.ts";

/** Writes nothing but the list: for a users list consumed by hand or by another tool. */
export const noApplier: Applier = { name: "none", apply: async () => undefined };

export function applierFromSettings(settings: Settings): Applier {
  const apply = settings.web.apply;
  switch (apply.mode) {
    case "pulumi":
      return createPulumiApplier({ projectDir: apply.projectDir, stack: apply.stack, usersFile: settings.users });
    case "none":
      return noApplier;
    case "local":
      // The local steps need the daemons and named that `semail start` runs next to the form.
      throw new ConfigError(
        "web.apply.mode local is run by `semail start`, which builds the form with its own applier; use pulumi or none with `semail web`",
      );
  }
}
