// The administrators' page: every mailbox (owner, address, aliases, use, size with its
// change form, delete) and the findings of `semail report` with their fixes.
import { formatSize } from "../config/size.ts";
import type { MailboxEntry } from "../config/users-list.ts";
import type { ApplyStatus } from "../config/applier.ts";
import type { CheckStatus, Finding } from "../services/report/check.ts";
import type { Report } from "../services/report/report.ts";
import { html, type Html } from "./html.ts";
import { listsSection, type ListsView } from "./lists-section.ts";
import { csrfField, humanSize, layout, statusLine, type ChangeNotice, type Viewer } from "./pages.ts";

/** The report panel's content: the report, or why there is none to show. */
export type ReportView =
  | { readonly state: "ready"; readonly report: Report }
  | { readonly state: "running" }
  | { readonly state: "failed"; readonly reason: string };

export interface AdminOptions {
  readonly viewer: Viewer;
  readonly mailboxes: readonly MailboxEntry[];
  /** Bytes in each owner's mailbox, when known. */
  readonly usage: ReadonlyMap<string, number>;
  readonly status: ApplyStatus;
  readonly minSize: number;
  /** Absent when the form was not given the settings to run the checks with. */
  readonly report?: ReportView;
  /** The directory's mailing lists; absent when the directory has none to give. */
  readonly lists?: ListsView;
  /** A new list's address is on this domain. */
  readonly managedDomain: string;
  readonly notice?: string | ChangeNotice;
  readonly error?: string;
}

function used(m: MailboxEntry, usage: ReadonlyMap<string, number>): string {
  const bytes = usage.get(m.owner);
  if (bytes === undefined) return "—";
  return `${humanSize(bytes)} (${Math.min(100, Math.round((bytes / m.size) * 100))} %)`;
}

function mailboxRow(m: MailboxEntry, o: AdminOptions): Html {
  return html`<tr>
<td data-label="Address" class="address">${m.address}${m.pendingProof !== undefined ? html` <span class="hint">(pending: domain not proven)</span>` : ""}${m.aliases.length > 0 ? html`<br><span class="hint aliases">Aliases: ${m.aliases.join(", ")}</span>` : ""}</td>
<td data-label="Owner">${m.owner}</td>
<td data-label="Used">${used(m, o.usage)}</td>
<td data-label="Size"><form method="post" action="/admin/size">
${csrfField(o.viewer.csrf)}
<input type="hidden" name="owner" value="${m.owner}">
<label class="visually-hidden" for="size-${m.owner}">Size of ${m.address}</label>
<input type="text" id="size-${m.owner}" name="size" value="${formatSize(m.size)}" required maxlength="20">
<button type="submit">Change</button>
</form></td>
<td data-label="Expires"><form method="post" action="/admin/expiry">
${csrfField(o.viewer.csrf)}
<input type="hidden" name="owner" value="${m.owner}">
<label class="visually-hidden" for="expires-${m.owner}">Expiry of ${m.address}</label>
<input type="date" id="expires-${m.owner}" name="expires" value="${m.expires?.written.slice(0, 10) ?? ""}">
<button type="submit">Set</button>
</form></td>
<td data-label="Delete"><a href="/admin/delete?owner=${encodeURIComponent(m.owner)}" aria-label="Delete ${m.address}">Delete…</a></td>
</tr>`;
}

const ORDER: Record<CheckStatus, number> = { FAIL: 0, WARN: 1, OK: 2 };

function findingItem(f: Finding): Html {
  return html`<li data-status="${f.status}"><strong>${f.status}</strong> ${f.check}: ${f.subject}: ${f.detail}${f.fix ? html`<br><span class="fix">Fix: ${f.fix}</span>` : ""}</li>`;
}

/** Problems first, each with its fix; the checks that passed folded away under them. */
function reportPanel(view: ReportView): Html {
  if (view.state === "running")
    return html`<p id="report-state">The checks are still running; reload the page in a moment.</p>`;
  if (view.state === "failed") return html`<p id="report-state">The checks could not run: ${view.reason}</p>`;
  const { report } = view;
  const sorted = [...report.findings].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const problems = sorted.filter((f) => f.status !== "OK");
  const passed = sorted.filter((f) => f.status === "OK");
  return html`<p id="report-state" data-status="${report.status}">Overall <strong>${report.status}</strong>, checked at ${report.at} (again at the first view after a minute). The same checks as <code>semail report</code>.</p>
${problems.length > 0 ? html`<ul class="findings">${problems.map(findingItem)}</ul>` : html`<p>No problem found.</p>`}
${passed.length > 0 ? html`<details><summary>${passed.length} check${passed.length === 1 ? "" : "s"} OK</summary><ul class="findings">${passed.map(findingItem)}</ul></details>` : ""}`;
}

export function adminPage(o: AdminOptions): Html {
  return layout(
    {
      title: "All mailboxes",
      viewer: o.viewer,
      script: true,
      wide: true,
      status: o.status,
      ...(o.notice ? { notice: o.notice } : {}),
      ...(o.error ? { error: o.error } : {}),
    },
    html`${statusLine(o.status)}
<p class="hint">A mailbox's size is its own filesystem and its quota: when it is full, senders get <code>452 4.2.2</code> and try again later. Sizes are written like 5GiB or 512MiB; the smallest is ${formatSize(o.minSize)}. A size only grows: the change is a stack update that grows the filesystem. From its expiry date on (00:00 UTC), a mailbox receives no mail; an empty date is never.</p>
${
  o.mailboxes.length === 0
    ? html`<p>There are no mailboxes yet.</p>`
    : html`<table>
<caption class="hint">${o.mailboxes.length} mailbox${o.mailboxes.length === 1 ? "" : "es"}</caption>
<thead><tr><th scope="col">Address</th><th scope="col">Owner</th><th scope="col">Used</th><th scope="col">Size</th><th scope="col">Expires</th><th scope="col">Delete</th></tr></thead>
<tbody>${o.mailboxes.map((m) => mailboxRow(m, o))}</tbody>
</table>`
}
${o.lists ? listsSection(o.lists, csrfField(o.viewer.csrf), o.managedDomain) : ""}
${
  o.report
    ? html`<h2 id="report">Health report</h2>
<section aria-labelledby="report">${reportPanel(o.report)}</section>`
    : ""
}`,
  );
}
