// A refusal's reason in a few words, so that a day's refusals group as pflogsumm's do: the
// reply texts name addresses and sizes, which would make every refusal a group of its own.
// The phrases matched are the daemons' own replies (mailservers/**: permFail, tempFail).

const REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b5\.7\.8\b|credentials invalid/i, "auth failure"],
  [/authentication required/i, "auth required"],
  [/relaying denied/i, "relay denied"],
  [/dmarc/i, "DMARC reject"],
  [/\bspf\b/i, "SPF fail"],
  [/spam|junk/i, "spam"],
  [/greylist/i, "greylisted"],
  [/too many connections|too many recipients|rate limit/i, "rate limit"],
  [/too big|\b5\.3\.4\b/i, "too big"],
  [/mailbox full|\b[45]\.2\.2\b/i, "mailbox full"],
  [/\b5\.1\.1\b/, "unknown user"],
  [/syntax|\b5\.6\.7\b/i, "bad address"],
  [/routing loop/i, "loop"],
  [/encryption required/i, "TLS required"],
];

/** "unknown user", "relay denied"...; else the reply itself without its addresses and numbers. */
export function refusalReason(reply: string): string {
  for (const [pattern, reason] of REASONS) if (pattern.test(reply)) return reason;
  const general = reply
    .replace(/^(\d{3}[ -])?(\d\.\d{1,3}\.\d{1,3} )?/, "")
    .replace(/<[^>]*>/g, "<>")
    .replace(/\d+/g, "N")
    .trim();
  return general.length > 48 ? `${general.slice(0, 47)}…` : general || "no reply text";
}
