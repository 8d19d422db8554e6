// The shared SMTP core's public face: front end, listener, limits, TLS files and the
// Received header. The message guard and session mapping stay inside.
export * from "./types.ts";
export { createSmtpFrontEnd, type SmtpAuthOptions, type SmtpFrontEnd, type SmtpFrontEndOptions } from "./front-end.ts";
export { listenSmtp, reloadListenerTls, type BoundAddress, type Listening, type ListenSpec } from "./listen.ts";
export type { SmtpLimits } from "./limits.ts";
export { addressLiteral, receivedHeader, rfc5322Date, type ReceivedOptions } from "./received.ts";
