// An HTTPS client for the webmail image's tests: one request at a time to a container's
// address, sent for the webmail's name (SNI and Host) and checked against the given CA; and
// Roundcube's login form posted as a browser would.
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";

export const WEBMAIL_NAME = "webmail.semail.test";

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** SHA-256 fingerprint of the certificate served (HTTPS). */
  readonly fingerprint?: string;
}

export function fetchOnce(
  url: string,
  ca?: string,
  form?: { cookie: string; body: string },
  name = WEBMAIL_NAME,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith("https:");
    const headers = {
      host: name,
      ...(form ? { cookie: form.cookie, "content-type": "application/x-www-form-urlencoded" } : {}),
    };
    const options = {
      method: form ? "POST" : "GET",
      headers,
      timeout: 120_000,
      ...(secure ? { ca, servername: name } : {}),
    };
    const req = (secure ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = "";
      const fingerprint = secure ? (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 : undefined;
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ...(fingerprint ? { fingerprint } : {}) });
      });
    });
    req.once("timeout", () => req.destroy(new Error(`no answer from ${url}`)));
    req.once("error", reject);
    req.end(form?.body);
  });
}
export const get = (url: string, ca?: string, name = WEBMAIL_NAME) => fetchOnce(url, ca, undefined, name);

/** Roundcube's login form posted as a browser would: its session cookie and request token first. */
export async function logIn(
  base: string,
  ca: string,
  login: { user?: string; password?: string; name?: string } = {},
): Promise<Answer> {
  const { user = "alice", password = "secret", name = WEBMAIL_NAME } = login;
  const page = await get(base, ca, name);
  const cookie = (page.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
  const token = /name="_token" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(token, "the login page carries a request token");
  const body = new URLSearchParams({
    _token: token,
    _task: "login",
    _action: "login",
    _timezone: "UTC",
    _url: "",
    _user: user,
    _pass: password,
  }).toString();
  return fetchOnce(`${base}?_task=login`, ca, { cookie, body }, name);
}
