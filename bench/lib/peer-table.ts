// The benches' one comparison table: per shape, each peer's rate, SEMail's, SEMail's ratio to
// the fastest peer that ran, and (where the bench measures it) the disk's ceiling for SEMail's
// writes and for the peers', with SEMail's rate as a fraction of its own.

export interface Ceiling {
  /** msg/s of the plain append loop with SEMail's appends per message. */
  readonly semail: number;
  /** msg/s of the same loop with the peers' appends per message, where they differ from SEMail's. */
  readonly peer?: number;
}

export interface ComparisonRow {
  readonly shape: string;
  readonly semail: number;
  /** msg/s by peer name; a peer that did not run this shape is absent. */
  readonly peers: Readonly<Record<string, number>>;
  readonly ceiling?: Ceiling;
}

const cell = (value: number | undefined, width: number) =>
  (value === undefined ? "-" : value.toFixed(0)).padStart(width);

/** The fastest peer of a row, or undefined when none ran. */
export function fastestPeer(row: ComparisonRow): { name: string; rate: number } | undefined {
  let best: { name: string; rate: number } | undefined;
  for (const [name, rate] of Object.entries(row.peers)) if (!best || rate > best.rate) best = { name, rate };
  return best;
}

/** Lines of the table; `peerNames` fixes the column order. */
export function comparisonTable(
  rows: readonly ComparisonRow[],
  peerNames: readonly string[],
  /** Column titles of the two ceilings; without them the table has no ceiling columns. */
  ceilingLabels?: { readonly semail: string; readonly peer?: string },
): string[] {
  const shapeWidth = Math.max(5, ...rows.map((r) => r.shape.length));
  const widths = peerNames.map((n) => Math.max(6, n.length));
  const header = [
    "shape".padEnd(shapeWidth),
    "SEMail".padStart(7),
    ...peerNames.map((n, i) => n.padStart(widths[i]!)),
    "SEMail / fastest peer".padEnd(30),
    ...(ceilingLabels ? [ceilingLabels.semail, ...(ceilingLabels.peer ? [ceilingLabels.peer] : [])] : []),
    ...(ceilingLabels ? ["SEMail / its ceiling"] : []),
  ];
  const lines = [header.join("  ")];
  for (const row of rows) {
    const best = fastestPeer(row);
    const ratio = best ? `${(row.semail / best.rate).toFixed(2)} (${best.name})` : "-";
    lines.push(
      [
        row.shape.padEnd(shapeWidth),
        cell(row.semail, 7),
        ...peerNames.map((n, i) => cell(row.peers[n], widths[i]!)),
        ratio.padEnd(30),
        ...(ceilingLabels && row.ceiling
          ? [
              cell(row.ceiling.semail, ceilingLabels.semail.length),
              ...(ceilingLabels.peer ? [cell(row.ceiling.peer, ceilingLabels.peer.length)] : []),
              (row.semail / row.ceiling.semail).toFixed(2).padStart(20),
            ]
          : []),
      ].join("  "),
    );
  }
  return lines;
}
