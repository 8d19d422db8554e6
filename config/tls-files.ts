// Reading the PEM files named by the `tls` settings, with an error that names the setting.
import { readFile } from "node:fs/promises";
import { ConfigError } from "./settings.ts";

/** The text of a file a setting names; a missing or unreadable file is a ConfigError naming the setting. */
export async function readSettingFile(file: string, setting: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      `${setting}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** The key and certificate, or undefined when neither is set. */
export async function readTlsFiles(tls: {
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}): Promise<{ key: string; cert: string } | undefined> {
  if (tls.cert === undefined || tls.key === undefined) return undefined;
  return { cert: await readSettingFile(tls.cert, "tls.cert"), key: await readSettingFile(tls.key, "tls.key") };
}
