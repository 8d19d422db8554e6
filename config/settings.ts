// The settings file (YAML), shared by every part; each part reads its own section.
// Flags override file values; a bad value stops start-up naming the setting.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import * as z from "zod/mini";
import { acmeSettings } from "./sections/acme.ts";
import { backupSettings } from "./sections/backup.ts";
import { bansSettings } from "./sections/bans.ts";
import { commonSettings } from "./sections/common.ts";
import { imapSettings } from "./sections/imap.ts";
import { inboundSettings } from "./sections/inbound.ts";
import { ldapSettings } from "./sections/ldap.ts";
import { outboundSettings } from "./sections/outbound.ts";
import { reportSettings } from "./sections/report.ts";
import { webSettings } from "./sections/web.ts";
import { webmailSettings } from "./sections/webmail.ts";

export const settingsSchema = z.strictObject({
  ...commonSettings,
  ldap: z._default(ldapSettings, () => ldapSettings.parse({})),
  inbound: z._default(inboundSettings, () => inboundSettings.parse({})),
  outbound: z._default(outboundSettings, () => outboundSettings.parse({})),
  web: z._default(webSettings, () => webSettings.parse({})),
  imap: z._default(imapSettings, () => imapSettings.parse({})),
  webmail: z._default(webmailSettings, () => webmailSettings.parse({})),
  acme: z._default(acmeSettings, () => acmeSettings.parse({})),
  backup: z._default(backupSettings, () => backupSettings.parse({})),
  bans: z._default(bansSettings, () => bansSettings.parse({})),
  report: z._default(reportSettings, () => reportSettings.parse({})),
});

export type Settings = z.output<typeof settingsSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Sets `value` at a dotted path ("inbound.listen") in a plain object. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

/** Validates raw settings; the error lists each bad setting by its path. */
export function parseSettings(raw: unknown, source: string): Settings {
  const result = settingsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("")
      .replace(/^\./, "");
    return `  ${path || "(top level)"}: ${issue.message}`;
  });
  throw new ConfigError(`invalid settings in ${source}:\n${lines.join("\n")}`);
}

/** Reads the YAML file (if any), applies flag overrides by setting path, validates. */
export async function loadSettings(
  file: string | undefined,
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<Settings> {
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new ConfigError(`--config: cannot read ${file}: ${(err as Error).message}`);
    }
    try {
      raw = (parse(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
    }
    if (typeof raw !== "object" || Array.isArray(raw))
      throw new ConfigError(`${file}: must be a YAML mapping of settings`);
  }
  for (const [path, value] of Object.entries(overrides)) if (value !== undefined) setPath(raw, path, value);
  return parseSettings(raw, file === undefined ? "flags" : `${file} and flags`);
}

/** The options the users list needs, from the settings. */
export function usersListOptions(settings: Settings) {
  return {
    managedDomain: settings.managedDomain,
    defaultSize: settings.defaultMailboxSize,
    minSize: settings.minMailboxSize,
    subaddressSeparator: settings.subaddressSeparator,
  };
}
