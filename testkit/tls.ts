// A throwaway self-signed certificate (openssl CLI) for STARTTLS and implicit-TLS tests.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
  readonly keyFile: string;
  readonly certFile: string;
  /** Removes the temp directory. */
  cleanup(): Promise<void>;
}

/** An EC P-256 certificate for `name` (localhost also gets 127.0.0.1 and ::1), valid for `days`. */
export async function selfSignedCertificate(name = "localhost", days = 1): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), "semail-tls-"));
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
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
      keyFile,
      "-out",
      certFile,
      "-days",
      String(days),
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}${name === "localhost" ? ",IP:127.0.0.1,IP:::1" : ""}`,
    ],
    { timeout: 20_000 },
  );
  return {
    key: await readFile(keyFile, "utf8"),
    cert: await readFile(certFile, "utf8"),
    keyFile,
    certFile,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Only the PEM texts, for a server that takes them in memory; no files stay behind. */
export async function selfSignedPem(name: string, days = 1): Promise<{ key: string; cert: string }> {
  const certificate = await selfSignedCertificate(name, days);
  await certificate.cleanup();
  return { key: certificate.key, cert: certificate.cert };
}
