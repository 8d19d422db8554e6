// One place that decides whether a failed delivery is retried (defer) or returned to
// the sender (bounce), as zone-mta's lib/bounces.js: the retry policy stays data.
export type Verdict = "defer" | "bounce";

export type FailureKind = "smtp" | "connection" | "dns-temp" | "dns-perm" | "null-mx" | "loop" | "tls-required";

export interface Failure {
  /** SMTP reply code, for kind "smtp". */
  code?: number;
  /** Enhanced status code (RFC 3463), e.g. "5.1.1". */
  enhanced?: string;
  kind: FailureKind;
}

export function classify(failure: Failure): Verdict {
  switch (failure.kind) {
    case "dns-perm":
    case "null-mx":
    case "loop":
      return "bounce";
    case "connection":
    case "dns-temp":
    case "tls-required":
      return "defer";
    case "smtp":
      return classifyReply(failure.code, failure.enhanced);
  }
}

function classifyReply(code: number | undefined, enhanced: string | undefined): Verdict {
  const enhancedClass = enhanced?.match(/^([245])\.\d{1,3}\.\d{1,3}$/)?.[1];
  if (code !== undefined && code >= 500 && code < 600) {
    // A 5xx whose enhanced code says 4.x.x is self-contradictory; losing mail is worse
    // than one more try, so the softer reading wins.
    return enhancedClass === "4" ? "defer" : "bounce";
  }
  if (code !== undefined && code >= 400 && code < 500) return "defer";
  // No usable reply code: only an explicit permanent enhanced code bounces.
  return enhancedClass === "5" ? "bounce" : "defer";
}
