// The form's pages. Every value goes through the escaping `html` template.
import { createHash } from "node:crypto";
import { STANDARD_MAIL_CLIENT_PORTS, type MailClientPorts } from "../config/mail-clients.ts";
import { mailClientRecordsFor } from "../config/stack/zone-file.ts";
import type { TransportSecurity } from "../config/stack/transport-security.ts";
import type { MailboxEntry } from "../config/users-list.ts";
import type { ApplyStatus } from "../config/applier.ts";
import { codeLines, html, type Html } from "./html.ts";
import { mailboxUseSection, sizeExplained, type MailAccessView } from "./mailbox-use.ts";
import { mxRecord, type MxCheck } from "./mx-check.ts";
import type { ProofState } from "./proof-checker.ts";
import { pendingProofSection } from "./proof-page.ts";
import { aliasesSection } from "./aliases-page.ts";
import { expirySection } from "./expiry-page.ts";
import { forwardSection } from "./forward-page.ts";
import { sshKeysSection } from "./keys-page.ts";
import { transportRecordsSection } from "./transport-records.ts";

export interface Viewer {
  readonly uid: string;
  readonly admin: boolean;
  readonly csrf: string;
}

/**
 * A notice about a change that an apply carries out, in the words for each state of the
 * apply: the page shows the one for the status it is rendered with, and the status script
 * swaps it as the status moves, so "being applied" never outlives the apply.
 */
export interface ChangeNotice {
  readonly applying: string;
  readonly done: string;
  readonly failed: string;
}

/** Which of a ChangeNotice's texts fits `status` (idle: no apply since a restart, so nothing runs). */
export function noticeState(status: ApplyStatus): keyof ChangeNotice {
  if (status.state === "failed") return "failed";
  return status.state === "queued" || status.state === "applying" || status.pending ? "applying" : "done";
}

function noticeLine(notice: string | ChangeNotice, status: ApplyStatus | undefined): Html {
  if (typeof notice === "string" || status === undefined) {
    return html`<p class="notice" role="status">${typeof notice === "string" ? notice : notice.done}</p>`;
  }
  const state = noticeState(status);
  return html`<p class="notice" role="status" id="change-notice" data-state="${state}" data-applying="${notice.applying}" data-done="${notice.done}" data-failed="${notice.failed}">${notice[state]}</p>`;
}

interface LayoutOptions {
  readonly title: string;
  readonly viewer?: Viewer;
  readonly notice?: string | ChangeNotice;
  /** The apply status a ChangeNotice follows. */
  readonly status?: ApplyStatus;
  readonly error?: string;
  readonly script?: boolean;
  /** A wider column, for a table. */
  readonly wide?: boolean;
}

export function layout(options: LayoutOptions, body: Html): Html {
  const { viewer } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · SEMail</title>
<link rel="stylesheet" href="/assets/app.css">
${options.script ? html`<script src="/assets/status.js" defer></script>` : ""}
</head>
<body>
<header>
<a class="brand" href="/">SEMail</a>
${
  viewer
    ? html`<nav aria-label="Account">
<span>Signed in as <strong>${viewer.uid}</strong></span>
${viewer.admin ? html`<a href="/admin">All mailboxes</a>` : ""}
<form method="post" action="/logout">${csrfField(viewer.csrf)}<button type="submit" class="link">Log out</button></form>
</nav>`
    : ""
}
</header>
<main id="main"${options.wide ? html` class="wide"` : ""}>
<h1>${options.title}</h1>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ""}
${options.notice ? noticeLine(options.notice, options.status) : ""}
${body}
</main>
</body>
</html>
`;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** "1.4 GiB": for reading, unlike formatSize which is exact. */
export function humanSize(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0
    ? `${bytes} bytes`
    : `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

export function statusLabel(status: ApplyStatus): string {
  switch (status.state) {
    case "idle":
      return "No change has been applied since the form started.";
    case "queued":
      return "Queued: the change will be applied in a moment.";
    case "applying":
      return status.pending ? "Applying changes (another change waits for its turn)…" : "Applying changes…";
    case "done":
      return "Done: the system matches the list.";
    case "failed":
      return "Failed. The list is saved and the next change will try again; an administrator may need to look:";
  }
}

export function statusLine(status: ApplyStatus): Html {
  return html`<p id="apply-status" class="status" data-state="${status.state}" data-pending="${String(status.pending)}" role="status" aria-live="polite">
<span>Last change: </span><strong data-status-text>${statusLabel(status)}</strong><span data-status-reason>${status.reason ? ` ${status.reason}` : status.progress ? ` ${status.progress}` : ""}</span>
<a href="">Refresh</a>
</p>`;
}

export function loginPage(options: { csrf: string; login?: string; error?: string; notice?: string }): Html {
  return layout(
    {
      title: "Log in",
      ...(options.error ? { error: options.error } : {}),
      ...(options.notice ? { notice: options.notice } : {}),
    },
    html`<p>Log in with your directory account to create or manage your mailbox.</p>
<form method="post" action="/login">
${csrfField(options.csrf)}
<label for="login">Login name</label>
<input type="text" id="login" name="login" value="${options.login ?? ""}" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="256" autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required maxlength="1024">
<button type="submit">Log in</button>
</form>`,
  );
}

export interface CreateFormValues {
  readonly localPart?: string;
  readonly kind?: string;
  readonly subdomain?: string;
  readonly externalDomain?: string;
  /** The choice sent for the mail kept from an earlier mailbox. */
  readonly keptMail?: string;
}

export interface HomeOptions {
  readonly viewer: Viewer;
  readonly managedDomain: string;
  readonly mxHost: string;
  /** The ports the optional SRV records of an external domain name (default the standard ones). */
  readonly mailClientPorts?: MailClientPorts;
  /** The MTA-STS and TLS-RPT settings the deployment publishes: the records shown for an external domain. */
  readonly transport: TransportSecurity;
  readonly status: ApplyStatus;
  readonly mailbox?: MailboxEntry;
  /** Bytes used, when known. */
  readonly usage?: number;
  /** The largest message the mailbox takes now, when known. */
  readonly largestMessage?: number;
  readonly mxCheck?: MxCheck;
  /** The DNS proof of a mailbox whose external domain is not proven yet. */
  readonly proof?: ProofState;
  /** How to send and read mail; shown for a live mailbox. */
  readonly access?: MailAccessView;
  readonly values?: CreateFormValues;
  /** The create form's choice for the mail kept from the owner's earlier mailbox (kept-mail.ts). */
  readonly keptMail?: Html;
  /** The alias the owner typed, shown again when it was refused. */
  readonly typedAlias?: string;
  /** web.maxExpiry in days: how far the owner may set their expiry. */
  readonly maxExpiryDays?: number;
  readonly notice?: string | ChangeNotice;
  readonly error?: string;
}

export function homePage(o: HomeOptions): Html {
  const common = {
    viewer: o.viewer,
    script: true,
    status: o.status,
    ...(o.notice ? { notice: o.notice } : {}),
    ...(o.error ? { error: o.error } : {}),
  };
  if (o.mailbox) return layout({ title: "Your mailbox", ...common }, mailboxView(o, o.mailbox));
  return layout(
    { title: "Create your mailbox", ...common },
    html`${createForm(o)}
<h2>Status</h2>
${statusLine(o.status)}`,
  );
}

function mailboxView(o: HomeOptions, m: MailboxEntry): Html {
  const usage =
    o.usage === undefined
      ? "not known yet"
      : `${humanSize(o.usage)} of ${humanSize(m.size)} (${Math.min(100, Math.round((o.usage / m.size) * 100))} %)`;
  return html`<dl>
<dt>Address</dt><dd><strong>${m.address}</strong></dd>
<dt>Size</dt><dd>${humanSize(m.size)}</dd>
<dt>Used</dt><dd>${usage}</dd>
${o.largestMessage !== undefined ? html`<dt>Largest message</dt><dd id="largest-message">${o.largestMessage === 0 ? "none right now: the mailbox is full" : `${humanSize(o.largestMessage)} right now`}</dd>` : ""}
</dl>
${sizeExplained(m)}
<h2>Status</h2>
${statusLine(o.status)}
${followedRegion(followedPart(o, m))}
${aliasesSection(m, csrfField(o.viewer.csrf), o.typedAlias)}
${forwardSection(m, csrfField(o.viewer.csrf))}
${expirySection(m, csrfField(o.viewer.csrf), o.maxExpiryDays ?? 365)}
${sshKeysSection(m, csrfField(o.viewer.csrf))}
<h2>Delete</h2>
<p>Deleting refuses new mail to ${m.address}. The mail already received is kept until an administrator removes it.</p>
<a class="button danger" href="/mailbox/delete">Delete my mailbox…</a>`;
}

/**
 * The part of the mailbox page that changes by itself: the proof of a claim and its checks,
 * the MX check, and how to use the mailbox once live (the SSH line once the container is
 * made). The status script swaps it in place when /status.json?follow says it changed.
 */
export interface FollowedPart {
  readonly html: Html;
  /** A digest of `html`: the script swaps the part only when it differs. */
  readonly view: string;
  /** Something may still change by itself: the script keeps asking (ever less often). */
  readonly waiting: boolean;
  readonly live: boolean;
}

export function followedPart(o: HomeOptions, m: MailboxEntry): FollowedPart {
  const live = m.pendingProof === undefined;
  const part = html`${!live && o.proof ? pendingProofSection(m, o.proof, csrfField(o.viewer.csrf)) : ""}
${m.kind === "external" ? externalDns(m.domain, o, o.mxCheck) : html`<p class="hint">Mail for ${m.domain} is routed here automatically.</p>`}
${live && o.access ? mailboxUseSection(m, o.access) : ""}`;
  const waiting =
    (live && o.access !== undefined && o.access.reading === undefined) ||
    (!live && o.proof?.nextCheckAt !== undefined) ||
    (m.kind === "external" && o.mxCheck !== undefined && o.mxCheck.state !== "ours");
  return { html: part, view: createHash("sha256").update(part.text).digest("base64url").slice(0, 22), waiting, live };
}

function followedRegion(part: FollowedPart): Html {
  return html`<div id="mailbox-follows" data-view="${part.view}" data-waiting="${String(part.waiting)}" data-live="${String(part.live)}">
${part.html}
</div>`;
}

function externalDns(
  domain: string,
  o: Pick<HomeOptions, "managedDomain" | "mxHost" | "mailClientPorts" | "transport">,
  check: MxCheck | undefined,
): Html {
  const clients = mailClientRecordsFor(
    domain,
    o.managedDomain,
    o.mxHost,
    o.mailClientPorts ?? STANDARD_MAIL_CLIENT_PORTS,
  );
  return html`<h2>DNS of ${domain}</h2>
<p>For mail to reach this mailbox, add this record to the DNS zone of ${domain}:</p>
${codeLines([mxRecord(domain, o.mxHost)])}
<p id="mx-check">${mxCheckText(domain, o.mxHost, check)}</p>
<p id="client-records">Optional: with these records too, mail programs (Thunderbird, phones) set themselves up from your address alone; mail works without them.</p>
${codeLines(clients)}
${transportRecordsSection(domain, o)}`;
}

export function mxCheckText(domain: string, mxHost: string, check: MxCheck | undefined): string {
  if (check === undefined) return "The MX record was not checked.";
  switch (check.state) {
    case "ours":
      return `Checked now: the MX of ${domain} points to us (${mxHost}).`;
    case "elsewhere":
      return `Checked now: the MX of ${domain} does not point to us yet; it points to ${check.hosts.join(", ")}.`;
    case "none":
      return `Checked now: ${domain} has no MX record yet.`;
    case "unknown":
      return `The MX of ${domain} could not be checked right now (${check.detail}); try again later.`;
  }
}

function createForm(o: HomeOptions): Html {
  const v = o.values ?? {};
  const external = v.kind === "external";
  return html`<p>You have no mailbox yet. Choose its address; you can have one.</p>
<form method="post" action="/mailbox">
${csrfField(o.viewer.csrf)}
<label for="localPart">Mailbox id (before the @)</label>
<input type="text" id="localPart" name="localPart" value="${v.localPart ?? ""}" required maxlength="64" autocomplete="off" autocapitalize="none" spellcheck="false" aria-describedby="localPart-hint">
<p class="hint" id="localPart-hint">Lowercase letters a-z, digits, '.' and '-'; starts and ends with a letter or digit.</p>
<fieldset>
<legend>Domain (after the @)</legend>
<div class="choice">
<input type="radio" id="kind-subdomain" name="kind" value="subdomain" ${external ? "" : html`checked`}>
<label class="inline" for="kind-subdomain">A subdomain of ${o.managedDomain}; its MX record is set up for you</label>
<label for="subdomain">Subdomain</label>
<input type="text" id="subdomain" name="subdomain" value="${v.subdomain ?? ""}" maxlength="63" autocomplete="off" autocapitalize="none" spellcheck="false" aria-describedby="subdomain-suffix">
<span class="suffix" id="subdomain-suffix">.${o.managedDomain}</span>
</div>
<div class="choice">
<input type="radio" id="kind-external" name="kind" value="external" ${external ? html`checked` : ""}>
<label class="inline" for="kind-external">My own domain; I prove it is mine with a TXT record in its DNS</label>
<label for="externalDomain">Domain</label>
<input type="text" id="externalDomain" name="externalDomain" value="${v.externalDomain ?? ""}" maxlength="253" autocomplete="off" autocapitalize="none" spellcheck="false" placeholder="example.org" aria-describedby="external-hint">
<p class="hint" id="external-hint">You will be shown the records to add to its DNS: a TXT record with a token made for your claim, which proves the domain is yours (the mailbox goes live once it is seen), the MX record that brings its mail here, such as <code>${mxRecord("example.org", o.mxHost)}</code>, and, recommended but not needed, the MTA-STS and TLS-RPT records that make senders use TLS.</p>
</div>
</fieldset>
${o.keptMail ?? ""}
<button type="submit">Create my mailbox</button>
</form>`;
}

export function confirmDeletePage(o: {
  viewer: Viewer;
  mailbox: MailboxEntry;
  action: string;
  cancel: string;
  mine: boolean;
}): Html {
  const whose = o.mine ? "your mailbox" : `the mailbox of ${o.mailbox.owner}`;
  return layout(
    { title: "Delete the mailbox?", viewer: o.viewer },
    html`<p>Do you really want to delete ${whose}, <strong>${o.mailbox.address}</strong>?</p>
<p>New mail to this address will be refused. The mail already received is <strong>kept</strong> until an administrator removes it${o.mine ? ": if you make a mailbox again, you choose whether it brings this mail back or starts empty" : ""}.</p>
<form method="post" action="${o.action}">
${csrfField(o.viewer.csrf)}
<input type="hidden" name="owner" value="${o.mailbox.owner}">
<button type="submit" class="danger">Yes, delete <span class="address">${o.mailbox.address}</span></button>
<a class="button secondary" href="${o.cancel}">No, keep it</a>
</form>`,
  );
}

export function messagePage(
  title: string,
  message: string,
  viewer?: Viewer,
  link: { href: string; text: string } = { href: "/", text: "Back to the start page" },
): Html {
  return layout(
    { title, ...(viewer ? { viewer } : {}) },
    html`<p>${message}</p>
<p><a href="${link.href}">${link.text}</a></p>`,
  );
}
