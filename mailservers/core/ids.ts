// Short random ids for messages (queue/trace ids in logs and Received headers).
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789BCDFGHJKLMNPQRSTVWXYZ";

/** 14 characters from a 31-letter alphabet (~69 bits): unique enough, safe in headers and file names. */
export function newMessageId(): string {
  const bytes = randomBytes(14);
  let id = "";
  for (const b of bytes) id += ALPHABET[b % ALPHABET.length];
  return id;
}
