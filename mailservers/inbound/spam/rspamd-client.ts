// A small client of Rspamd's HTTP protocol: POST /checkv2 on its normal worker with the
// message as the body and the envelope in request headers (IP, Helo, Hostname, From, one Rcpt
// per recipient, Queue-Id); the answer is JSON with the score, the action and the symbols.
// https://rspamd.com/doc/developers/protocol.html. Bounded: one request, aborted after
// `timeoutMs` whatever stage it is in; no keep-alive, so nothing stays open between messages.

/** Rspamd's actions, as /checkv2 names them. */
export type RspamdAction = "reject" | "soft reject" | "rewrite subject" | "add header" | "greylist" | "no action";

const ACTIONS: ReadonlySet<string> = new Set([
  "reject",
  "soft reject",
  "rewrite subject",
  "add header",
  "greylist",
  "no action",
]);

export interface RspamdSymbol {
  readonly name: string;
  readonly score: number;
  readonly options: readonly string[];
}

/** What Rspamd answered, reduced to what the verdict and the headers use. */
export interface RspamdResult {
  readonly score: number;
  readonly requiredScore: number;
  readonly action: RspamdAction;
  readonly symbols: readonly RspamdSymbol[];
  /** Rspamd's text for the SMTP reply (messages.smtp_message), if it gave one. */
  readonly smtpMessage?: string;
}

/** The envelope as Rspamd's request headers carry it. */
export interface RspamdRequest {
  readonly ip: string;
  readonly helo: string;
  /** The client's forward-confirmed name, if it has one. */
  readonly hostname?: string;
  readonly from: string;
  readonly recipients: readonly string[];
  readonly queueId: string;
}

/** Rspamd could not be asked, or gave no usable answer; `reason` is short, for a header and the log. */
export class RspamdUnavailable extends Error {
  readonly reason: string;
  constructor(reason: string, options?: ErrorOptions) {
    super(`rspamd unavailable: ${reason}`, options);
    this.name = "RspamdUnavailable";
    this.reason = reason;
  }
}

const MAX_ANSWER = 1024 ** 2;

/** Asks Rspamd at `baseUrl` for its verdict on `message` (the chunks, sent as they are). */
export async function checkMessage(
  baseUrl: string,
  message: readonly Buffer[],
  envelope: RspamdRequest,
  timeoutMs: number,
): Promise<RspamdResult> {
  const url = new URL("checkv2", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  const length = message.reduce((sum, chunk) => sum + chunk.length, 0);
  const headers: Record<string, string | string[]> = {
    "Content-Length": String(length),
    IP: envelope.ip,
    Helo: envelope.helo,
    ...(envelope.hostname !== undefined ? { Hostname: envelope.hostname } : {}),
    // The null sender <> is "" here; Rspamd reads an empty From as none.
    From: envelope.from,
    Rcpt: [...envelope.recipients],
    "Queue-Id": envelope.queueId,
  };
  // Loaded at the first scan: a daemon without rspamd never loads node:http (the bundle's idle check).
  const { request } = await import("node:http");
  const signal = AbortSignal.timeout(timeoutMs);
  const text = await new Promise<string>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => {
      if (err instanceof RspamdUnavailable) reject(err);
      else if (signal.aborted) reject(new RspamdUnavailable(`no answer within ${timeoutMs} ms`, { cause: err }));
      else reject(new RspamdUnavailable(err.code ?? err.message, { cause: err }));
    };
    const req = request(url, { method: "POST", headers, agent: false, signal }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER) req.destroy(new RspamdUnavailable("answer too large"));
        else parts.push(chunk);
      });
      res.on("error", fail);
      res.on("end", () => {
        const body = Buffer.concat(parts).toString("utf8");
        if (res.statusCode === 200) resolve(body);
        else reject(new RspamdUnavailable(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
      });
    });
    req.on("error", fail);
    for (const chunk of message) req.write(chunk);
    req.end();
  });
  return parseAnswer(text);
}

/** The /checkv2 JSON answer, checked; an answer without a score or action is unusable. */
export function parseAnswer(text: string): RspamdResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RspamdUnavailable("answer is not JSON", { cause: err });
  }
  if (typeof json !== "object" || json === null) throw new RspamdUnavailable("answer is not a JSON object");
  const answer = json as Record<string, unknown>;
  if (typeof answer.error === "string") throw new RspamdUnavailable(`rspamd error: ${answer.error.slice(0, 200)}`);
  const { score, action } = answer;
  if (typeof score !== "number" || !Number.isFinite(score)) throw new RspamdUnavailable("answer has no score");
  if (typeof action !== "string" || !ACTIONS.has(action)) throw new RspamdUnavailable("answer has no known action");
  const requiredScore = typeof answer.required_score === "number" ? answer.required_score : Number.NaN;
  const symbols: RspamdSymbol[] = [];
  if (typeof answer.symbols === "object" && answer.symbols !== null) {
    for (const [name, value] of Object.entries(answer.symbols as Record<string, unknown>)) {
      const symbol = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
      symbols.push({
        name,
        score: typeof symbol.score === "number" ? symbol.score : 0,
        options: Array.isArray(symbol.options) ? symbol.options.filter((o): o is string => typeof o === "string") : [],
      });
    }
  }
  const messages = answer.messages as Record<string, unknown> | undefined;
  const smtpMessage = typeof messages?.smtp_message === "string" ? messages.smtp_message : undefined;
  return {
    score,
    requiredScore,
    action: action as RspamdAction,
    symbols,
    ...(smtpMessage !== undefined ? { smtpMessage } : {}),
  };
}
