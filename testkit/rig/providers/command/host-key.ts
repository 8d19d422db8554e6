// `connection.hostKey` as upstream reads it (an authorized_keys line: "[options] type base64
// [comment]") turned into what OpenSSH checks: a known_hosts line and the host key algorithms
// to ask for, so the server must show exactly that key (upstream's FixedHostKey).

export interface HostKey {
  /** The key's type as its blob names it, e.g. "ssh-ed25519". */
  readonly type: string;
  readonly base64: string;
}

/** The type string at the head of an SSH public key blob (RFC 4253 string encoding). */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  return length > 0 && length <= blob.length - 4 ? blob.subarray(4, 4 + length).toString("latin1") : undefined;
}

/** Parses the host key; throws "failed to parse host key" (upstream's words) when it is none. */
export function parseHostKey(text: string): HostKey {
  const words = text.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i += 1) {
    const type = words[i]!;
    const base64 = words[i + 1]!;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    if (blobType(Buffer.from(base64, "base64")) === type) return { type, base64 };
  }
  throw new Error(`failed to parse host key: no "<type> <base64>" public key in ${JSON.stringify(text.slice(0, 80))}`);
}

/** The known_hosts line naming the key for `alias` (used with ssh's HostKeyAlias). */
export function knownHostsLine(alias: string, key: HostKey): string {
  return `${alias} ${key.type} ${key.base64}\n`;
}

/** HostKeyAlgorithms for the key: an RSA key signs with SHA-2 on current OpenSSH. */
export function hostKeyAlgorithms(key: HostKey): string {
  return key.type === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : key.type;
}
