// Reading a remote SMTP reply: its code, its enhanced status code (RFC 3463), and the text
// on one line for logs, the journal and DSNs.

export function enhancedCode(response: string | undefined): string | undefined {
  return response?.match(/^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/)?.[1];
}

export function replyCodes(reply: string | undefined): { code?: number; enhanced?: string } {
  const code = Number(reply?.match(/^([2-5]\d\d)\b/)?.[1]);
  const enhanced = enhancedCode(reply);
  return { ...(Number.isFinite(code) ? { code } : {}), ...(enhanced ? { enhanced } : {}) };
}

export function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, " ").slice(0, 1000);
}
