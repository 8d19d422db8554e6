// nodemailer's SMTPConnection with two changes to DATA. Our encoder (data-encoding.ts) takes
// the place of its DataStream, which looks at every byte in JavaScript (with 100 KiB messages
// it and our line-ending pass took about a third of the relay's CPU). And the reply to the
// final "." gets its own wait, which RFC 5321 4.5.3.2.6 puts at 10 minutes where every other
// reply gets 5 (a server may scan the message first; giving up early is how a message gets
// sent twice, RFC 1047). Everything else (envelope, replies, other timeouts) stays nodemailer's.
import type { Socket } from "node:net";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { DataEncoder } from "./data-encoding.ts";

export interface EncodingConnectionOptions extends SMTPConnection.Options {
  /** Inactivity allowed between the message's last byte and the reply to it, ms (socketTimeout covers the rest). */
  dataDoneTimeout: number;
}

type SendCallback = (err: Error | null, response?: string) => void;

/** The parts of SMTPConnection (nodemailer 10) that its own _createSendStream uses. */
interface Internals {
  options: { lmtp?: boolean; socketTimeout?: number };
  _socket: Socket;
  _responseActions: Array<(reply: string) => void>;
  _actionSMTPStream(reply: string, callback: SendCallback): void;
  _currentDataStream: DataEncoder | false;
}

export class EncodingConnection extends SMTPConnection {
  readonly #dataDoneTimeoutMs: number;

  constructor(options: EncodingConnectionOptions) {
    super(options);
    this.#dataDoneTimeoutMs = options.dataDoneTimeout;
  }

  /**
   * Called by send() once the server answered DATA with 354: the stream the message is piped
   * into. As nodemailer's own (SMTP, not LMTP): the reply to the final "." goes to callback,
   * the encoder writes into the socket, and close() unpipes it through _currentDataStream.
   */
  _createSendStream(callback: SendCallback): DataEncoder {
    const self = this as unknown as Internals;
    if (self.options.lmtp) throw new Error("EncodingConnection speaks SMTP, not LMTP");
    const socket = self._socket;
    const encoder = new DataEncoder();
    self._responseActions.push((reply) => {
      // Back to the command timeout for RSET and the next message on this session.
      if (self.options.socketTimeout !== undefined) socket.setTimeout(self.options.socketTimeout);
      self._actionSMTPStream(reply, callback);
    });
    self._currentDataStream = encoder;
    encoder.pipe(socket, { end: false });
    encoder.once("end", () => {
      if (self._currentDataStream === encoder) self._currentDataStream = false;
      // The final "." is on its way: the server now has longer to answer.
      socket.setTimeout(this.#dataDoneTimeoutMs);
    });
    return encoder;
  }
}

// A nodemailer that no longer has these would send through its own DataStream unnoticed.
for (const name of ["_createSendStream", "_actionSMTPStream"]) {
  if (typeof (SMTPConnection.prototype as unknown as Record<string, unknown>)[name] !== "function")
    throw new Error(`nodemailer's SMTPConnection has no ${name}: data-encoding cannot replace its DataStream`);
}
