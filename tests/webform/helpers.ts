// Fixtures for the web form tests: the app on port 0 with a temp users list, and a small
// cookie-keeping HTTP client that fills in the CSRF token like a browser would.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { silentLogger } from "../../lib/logger.ts";
import { webSettings, type WebSettings } from "../../config/sections/web.ts";
import type { UsersListOptions } from "../../config/users-list.ts";
import type { Directory } from "../../config/directory.ts";
import type { Applier } from "../../config/applier.ts";
import { buildWebApp, type WebApp, type WebAppDependencies } from "../../webform/app.ts";

export const LIST_OPTIONS: UsersListOptions = {
  managedDomain: "semail.test",
  defaultSize: 1024 ** 3,
  minSize: 64 * 1024 ** 2,
};

/** An applier that records each apply's list and can be made slow or failing. */
export function fakeApplier(
  options: { delayMs?: number; fail?: string } = {},
): Applier & { readonly runs: string[][]; fail?: string } {
  const applier = {
    name: "fake",
    runs: [] as string[][],
    fail: options.fail,
    async apply(context: Parameters<Applier["apply"]>[0]) {
      applier.runs.push(context.list.mailboxes.map((m) => m.address));
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (applier.fail !== undefined) throw new Error(applier.fail);
    },
  };
  return applier;
}

export interface RunningForm extends WebApp {
  readonly url: string;
  readonly usersFile: string;
  readonly dir: string;
}

export async function startForm(
  t: TestContext,
  deps: { directory: Directory; applier?: Applier; web?: Record<string, unknown> } & Partial<
    Omit<WebAppDependencies, "web" | "directory">
  >,
): Promise<RunningForm> {
  const dir = await mkdtemp(join(tmpdir(), "semail-web-"));
  const usersFile = deps.usersFile ?? join(dir, "users.yaml");
  const web: WebSettings = webSettings.parse({ secureCookies: false, ...deps.web });
  const built = await buildWebApp({
    usersListOptions: LIST_OPTIONS,
    logger: silentLogger(),
    applier: fakeApplier(),
    ...deps,
    usersFile,
    web,
  });
  await built.app.listen({ host: "127.0.0.1", port: 0 });
  t.after(async () => {
    await built.app.close();
    await rm(dir, { recursive: true, force: true });
  });
  const address = built.app.server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return { ...built, url: `http://127.0.0.1:${address.port}`, usersFile, dir };
}

export interface Reply {
  readonly status: number;
  readonly text: string;
  readonly location: string | null;
  readonly headers: Headers;
}

/** One user agent: keeps cookies, remembers the last CSRF token it saw on a page. */
export class Client {
  readonly base: string;
  readonly cookies = new Map<string, string>();
  csrf = "";

  constructor(base: string) {
    this.base = base;
  }

  async request(method: string, path: string, form?: Record<string, string>): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(this.base + path, {
      method,
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(30_000),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (token) this.csrf = token;
    return { status: response.status, text, location: response.headers.get("location"), headers: response.headers };
  }

  get(path: string): Promise<Reply> {
    return this.request("GET", path);
  }

  /** POSTs with the last seen CSRF token unless the form gives its own `_csrf`. */
  post(path: string, form: Record<string, string> = {}): Promise<Reply> {
    return this.request("POST", path, { _csrf: this.csrf, ...form });
  }

  async login(login: string, password: string): Promise<Reply> {
    await this.get("/login");
    return this.post("/login", { login, password });
  }

  async status(): Promise<{ state: string; reason?: string; pending: boolean; label: string }> {
    const reply = await this.get("/status.json");
    return JSON.parse(reply.text);
  }
}

/** A client logged in as `uid` (303 to the home page asserted) that has read its home page, so it holds a CSRF token. */
export async function loggedInClient(form: { readonly url: string }, uid: string, password: string): Promise<Client> {
  const client = new Client(form.url);
  const reply = await client.login(uid, password);
  if (reply.status !== 303) throw new Error(`login of ${uid}: ${reply.status}`);
  await client.get("/");
  return client;
}
