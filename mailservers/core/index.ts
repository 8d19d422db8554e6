// The shared SMTP core: front end, listener, limits and the Received header.
export * from "./types.ts";
export { createSmtpFrontEnd, sessionInfo, toReply, type SmtpAuthOptions, type SmtpFrontEnd, type SmtpFrontEndOptions } from "./front-end.ts";
export { listenSmtp, parseListenSpec, type BoundAddress, type Listening, type ListenSpec } from "./listen.ts";
export { DEFAULT_LIMITS, type SmtpLimits } from "./limits.ts";
export { MessageGuard, type MessageGuardLimits } from "./message-guard.ts";
export { addressLiteral, receivedHeader, rfc5322Date, type ReceivedOptions } from "./received.ts";
export { newMessageId } from "./ids.ts";
export { readTlsFiles } from "./tls-files.ts";
