// A self-signed certificate for local mode's IMAP (it has no tls.cert of its own): made once
// with openssl in the data directory and reused by later starts. Mail programs will ask to
// trust it once, as with any self-signed server.
import { execFile } from "node:child_process";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** `<dir>/cert.pem` and `<dir>/key.pem` for `hostname` (and localhost, 127.0.0.1, ::1), made when missing. */
export async function localCertificate(dir: string, hostname: string): Promise<CertificateFiles> {
  if (!/^[A-Za-z0-9.-]+$/.test(hostname))
    throw new Error(`hostname ${JSON.stringify(hostname)} cannot name a certificate`);
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  const present = await Promise.all(
    [files.cert, files.key].map((f) =>
      access(f).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (present.every(Boolean)) return files;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await promisify(execFile)(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      files.key,
      "-out",
      files.cert,
      "-days",
      "825",
      "-subj",
      `/CN=${hostname}`,
      "-addext",
      `subjectAltName=DNS:${hostname},DNS:localhost,IP:127.0.0.1,IP:::1`,
    ],
    { timeout: 20_000 },
  );
  return files;
}
