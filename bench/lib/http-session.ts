// One browser-like HTTP session for benchmarks: keeps cookies, follows no redirects, and
// gives the page text, so a bench can log in to a form (the web form, Roundcube) and load
// a page as a user would.
export interface Page {
  readonly status: number;
  readonly text: string;
  readonly location: string | null;
}

export class HttpSession {
  readonly #base: string;
  readonly #cookies = new Map<string, string>();

  constructor(base: string) {
    this.#base = base.replace(/\/$/, "");
  }

  async request(
    method: "GET" | "POST",
    path: string,
    form?: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Page> {
    const sent: Record<string, string> = { ...headers };
    if (this.#cookies.size > 0) sent.cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    if (form) sent["content-type"] = "application/x-www-form-urlencoded";
    const response = await fetch(this.#base + path, {
      method,
      headers: sent,
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      redirect: "manual",
      signal: AbortSignal.timeout(60_000),
    });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";")[0]!;
      const eq = pair.indexOf("=");
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (value === "" || value === "deleted" || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    return { status: response.status, text: await response.text(), location: response.headers.get("location") };
  }

  get(path: string, headers?: Record<string, string>): Promise<Page> {
    return this.request("GET", path, undefined, headers);
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Page> {
    return this.request("POST", path, form, headers);
  }
}
