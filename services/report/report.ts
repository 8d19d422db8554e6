// `semail report`: everything that can be wrong with a running SEMail, in one place, each
// finding OK, WARN or FAIL with its fix in one line. Each check runs on its own; one that
// throws is itself a FAIL, so the report always comes out whole.
import type { Resolver } from "node:dns/promises";
import type { Directory } from "../../config/directory.ts";
import type { Settings } from "../../config/settings.ts";
import type { UsersList } from "../../config/users-list.ts";
import { fail, type CheckStatus, type Finding } from "./check.ts";
import { backupFindings } from "./checks/backup.ts";
import { certificateFindings } from "./checks/certificate.ts";
import { containerFindings } from "./checks/containers.ts";
import { directoryFindings } from "./checks/directory.ts";
import { dnsFindings } from "./checks/dns.ts";
import { appliedListFindings, previewFindings, type DriftPreview } from "./checks/drift.ts";
import { mailboxFindings } from "./checks/mailboxes.ts";
import { portFindings } from "./checks/ports.ts";
import { queueFindings } from "./checks/queue.ts";
import { reverseDnsFindings } from "./checks/reverse-dns.ts";

export interface ReportInput {
  readonly settings: Settings;
  readonly users: UsersList;
  readonly directory: Directory;
  readonly resolver: Resolver;
  readonly now: Date;
  /** The engine's refreshed preview of `stack`, when asked for (`--drift`): it takes tens of seconds. */
  readonly drift?: { readonly stack: string; readonly preview: DriftPreview };
}

export interface Report {
  readonly at: string;
  /** The worst status of any finding. */
  readonly status: CheckStatus;
  readonly findings: readonly Finding[];
}

export async function runReport(input: ReportInput): Promise<Report> {
  const { settings, users, now } = input;
  const checks: Array<[string, () => Promise<Finding[]>]> = [
    ["dns", () => dnsFindings(settings, users, input.resolver)],
    ["reverse-dns", () => reverseDnsFindings(settings, input.resolver)],
    ["certificate", () => certificateFindings(settings, now)],
    ["ports", () => portFindings(settings, now)],
    ["directory", () => directoryFindings(input.directory, settings.ldap.url)],
    ["queue", () => queueFindings(settings, now)],
    ["mailboxes", () => mailboxFindings(settings, users)],
    ["backup", () => backupFindings(settings, now)],
    ["containers", () => containerFindings(settings, users)],
    ["drift", () => appliedListFindings(settings, users)],
  ];
  const { drift } = input;
  if (drift !== undefined) checks.push(["drift", () => previewFindings(drift.preview, drift.stack)]);
  const results = await Promise.all(
    checks.map(([name, check]) =>
      check().catch((err: unknown) => [
        fail(name, name, `the check itself failed: ${(err as Error).message}`, "run it again; report this if it stays"),
      ]),
    ),
  );
  const findings = results.flat();
  return { at: now.toISOString(), status: worst(findings), findings };
}

function worst(findings: readonly Finding[]): CheckStatus {
  if (findings.some((f) => f.status === "FAIL")) return "FAIL";
  return findings.some((f) => f.status === "WARN") ? "WARN" : "OK";
}

/** The report for a person: problems first, each with its fix under it. */
export function reportText(report: Report): string {
  const order: Record<CheckStatus, number> = { FAIL: 0, WARN: 1, OK: 2 };
  const sorted = [...report.findings].sort((a, b) => order[a.status] - order[b.status]);
  const lines = sorted.map((f) => {
    const line = `${f.status.padEnd(4)} ${f.check}: ${f.subject}: ${f.detail}`;
    return f.fix ? `${line}\n       fix: ${f.fix}` : line;
  });
  const counts = (["FAIL", "WARN", "OK"] as const).map(
    (s) => `${report.findings.filter((f) => f.status === s).length} ${s}`,
  );
  return `${lines.join("\n")}\n\nSEMail report ${report.at}: ${report.status} (${counts.join(", ")})\n`;
}
