// The fault matrix's table: one line per row, in the order the rows finished.

export interface TableRow {
  readonly fault: string;
  readonly sent: number;
  readonly accepted: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly recoveryMs: number | null;
  readonly note?: string;
}

const HEADINGS = ["fault", "sent", "250'd", "delivered", "lost", "duplicated", "recovery", "note"] as const;

function recovery(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The rows as a Markdown table (it reads as plain text too, and pastes into a note). */
export function faultTable(rows: readonly TableRow[]): string {
  const cells = rows.map((r) => [
    r.fault,
    String(r.sent),
    String(r.accepted),
    String(r.delivered),
    String(r.lost),
    String(r.duplicated),
    recovery(r.recoveryMs),
    r.note ?? "",
  ]);
  const widths = HEADINGS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => `| ${c.map((s, i) => s.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(HEADINGS), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

/** The rows a run wrote, one JSON object per line. */
export function parseTableFile(text: string): TableRow[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as TableRow);
}
