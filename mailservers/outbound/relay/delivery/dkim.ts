// DKIM signing (RFC 6376) with a per-domain key, through nodemailer's signer
// (rsa-sha256, relaxed/relaxed). It signs the exact bytes that are sent: the caller
// normalises line endings first.
import type { Readable } from "node:stream";
import { createPrivateKey } from "node:crypto";
import DKIM from "nodemailer/lib/dkim";

export interface DkimKey {
  /** Signing domain (d=); also signs mail from its subdomains. */
  domain: string;
  /** Selector (s=): the key is published at SELECTOR._domainkey.DOMAIN. */
  selector: string;
  /** RSA private key, PEM. */
  privateKey: string;
}

export interface DkimSigner {
  /** The message with a DKIM-Signature header prepended, or unchanged when no key fits. */
  sign(message: Readable, senderDomain: string): Readable;
  /** The key that would sign for this sender domain. */
  keyFor(senderDomain: string): DkimKey | undefined;
}

/** Checks every key up front, so a bad key stops start-up rather than the first delivery. */
export function createDkimSigner(keys: readonly DkimKey[], options: { cacheDir?: string } = {}): DkimSigner {
  const byDomain = new Map<string, DkimKey>();
  for (const [i, key] of keys.entries()) {
    const domain = key.domain.toLowerCase().replace(/\.$/, "");
    if (!/^[a-z0-9.-]+$/.test(domain))
      throw new Error(`dkim[${i}].domain ${JSON.stringify(key.domain)} is not a domain name`);
    if (!/^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/i.test(key.selector))
      throw new Error(`dkim[${i}].selector ${JSON.stringify(key.selector)} is not a valid selector`);
    try {
      const parsed = createPrivateKey(key.privateKey);
      if (parsed.asymmetricKeyType !== "rsa")
        throw new Error(`${parsed.asymmetricKeyType} keys are not supported, use RSA`);
    } catch (err) {
      throw new Error(`dkim[${i}] (${domain}): unusable private key: ${(err as Error).message}`);
    }
    byDomain.set(domain, { ...key, domain });
  }

  function keyFor(senderDomain: string): DkimKey | undefined {
    // The closest configured parent: a key for semail.test signs alice.semail.test too
    // (relaxed DMARC alignment).
    const labels = senderDomain.toLowerCase().replace(/\.$/, "").split(".");
    for (let i = 0; i < labels.length - 1 || i === 0; i++) {
      const key = byDomain.get(labels.slice(i).join("."));
      if (key) return key;
    }
    return undefined;
  }

  return {
    keyFor,
    sign(message, senderDomain) {
      const key = keyFor(senderDomain);
      if (!key) return message;
      const signer = new DKIM({
        domainName: key.domain,
        keySelector: key.selector,
        privateKey: key.privateKey,
        ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      });
      return signer.sign(message);
    },
  };
}
