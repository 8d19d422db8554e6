// The tables bench/memory prints: per variant, the rates beside Postfix's, each service's
// memory (idle after start, idle after the load, peak under it), the targets with pass or
// miss; when several variants ran, one line per variant to compare the levers; and with
// --arrival-checks, inbound's memory and CPU per message with the checks off and on.
import type { Memory } from "../lib/smaps.ts";
import type { Rates, Shape } from "./load.ts";
import { total, type Peaks, type ServiceMemory } from "./sample.ts";
import type { Variant } from "./variants.ts";

const MIB = 1024 ** 2;
export const TARGETS = { allIdlePss: 256 * MIB, daemonIdleUss: 32 * MIB } as const;
/** The group whose peak is held against Postfix's: the two SMTP daemons, which do what Postfix does here. */
export const SMTP_DAEMONS = ["inbound", "outbound"] as const;

export interface SideResult {
  readonly rates: ReadonlyArray<{ readonly shape: Shape; readonly rates: Rates }>;
  readonly afterStart: readonly ServiceMemory[];
  readonly idle: readonly ServiceMemory[];
  readonly peaks: Peaks;
  /** CPU milliseconds the inbound daemon spent per inbound message, per shape (SEMail's side only). */
  readonly inboundCpuMs?: readonly number[];
}

export interface VariantResult extends SideResult {
  readonly variant: Variant;
  /** Inbound checked the load's mail (SPF, DKIM, DMARC, ARC). */
  readonly arrivalChecks: boolean;
}

const mib = (bytes: number) => (bytes / MIB).toFixed(1);
const verdict = (ok: boolean) => (ok ? "pass" : "MISS");

export interface Verdicts {
  readonly allIdlePss: number;
  readonly daemonUss: ReadonlyArray<readonly [string, number]>;
  readonly smtpPeakPss: number;
  readonly postfixPeakPss: number | undefined;
  readonly pass: readonly [boolean, boolean, boolean | undefined];
}

export function verdicts(ours: VariantResult, postfix: SideResult | undefined): Verdicts {
  const allIdlePss = total(ours.idle).pss;
  const daemonUss = ours.idle.filter((m) => m.daemon).map((m) => [m.name, m.uss] as const);
  const smtpPeakPss = ours.peaks.groups.get("smtp")?.pss ?? 0;
  const postfixPeakPss = postfix?.peaks.groups.get("postfix")?.pss;
  return {
    allIdlePss,
    daemonUss,
    smtpPeakPss,
    postfixPeakPss,
    pass: [
      allIdlePss <= TARGETS.allIdlePss,
      daemonUss.every(([, uss]) => uss <= TARGETS.daemonIdleUss),
      postfixPeakPss === undefined ? undefined : smtpPeakPss <= postfixPeakPss,
    ],
  };
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" ")}`;
}

export function variantReport(ours: VariantResult, postfix: SideResult | undefined, launchLine: string): string {
  const lines = [`variant "${ours.variant.name}": ${launchLine}`];
  const rateWidths = [22, 14, 14, 14, 14, 12];
  lines.push(
    row(["load (in + out at once)", "semail in/s", "out/s", "postfix in/s", "out/s", "ratio in/out"], rateWidths),
  );
  ours.rates.forEach(({ shape, rates }, i) => {
    const theirs = postfix?.rates[i]?.rates;
    const ratio = theirs
      ? `${(rates.inbound / theirs.inbound).toFixed(2)}/${(rates.outbound / theirs.outbound).toFixed(2)}`
      : "-";
    lines.push(
      row(
        [
          `${shape.messages} x ${shape.size / 1024} KiB`,
          rates.inbound.toFixed(0),
          rates.outbound.toFixed(0),
          theirs?.inbound.toFixed(0) ?? "-",
          theirs?.outbound.toFixed(0) ?? "-",
          ratio,
        ],
        rateWidths,
      ),
    );
  });
  const widths = [16, 6, 10, 10, 10, 12, 10];
  lines.push(row(["MiB", "procs", "idle PSS", "idle USS", "idle RSS", "start PSS", "peak PSS"], widths));
  const serviceRow = (
    name: string,
    idle: Memory & { processes?: number },
    start: Memory | undefined,
    peak: Memory | undefined,
  ) =>
    row(
      [
        name,
        String(idle.processes ?? "-"),
        mib(idle.pss),
        mib(idle.uss),
        mib(idle.rss),
        start ? mib(start.pss) : "-",
        peak ? mib(peak.pss) : "-",
      ],
      widths,
    );
  for (const m of ours.idle)
    lines.push(
      serviceRow(
        m.name,
        m,
        ours.afterStart.find((s) => s.name === m.name),
        ours.peaks.services.get(m.name),
      ),
    );
  lines.push(
    serviceRow(
      "SEMail, all",
      { ...total(ours.idle), processes: ours.idle.reduce((n, m) => n + m.processes, 0) },
      total(ours.afterStart),
      ours.peaks.groups.get("semail"),
    ),
  );
  lines.push(
    serviceRow(
      "inbound+outbound",
      total(ours.idle.filter((m) => (SMTP_DAEMONS as readonly string[]).includes(m.name))),
      undefined,
      ours.peaks.groups.get("smtp"),
    ),
  );
  if (postfix)
    lines.push(
      serviceRow(
        "postfix",
        { ...total(postfix.idle), processes: postfix.idle[0]?.processes ?? 0 },
        total(postfix.afterStart),
        postfix.peaks.groups.get("postfix"),
      ),
    );
  if (ours.inboundCpuMs)
    lines.push(
      `  inbound CPU per message: ${ours.rates.map(({ shape }, i) => `${shape.size / 1024} KiB ${ours.inboundCpuMs![i]!.toFixed(2)} ms`).join(", ")}`,
    );
  const v = verdicts(ours, postfix);
  lines.push(`  targets:`);
  lines.push(
    `   (1) all SEMail services idle after the load: ${mib(v.allIdlePss)} MiB PSS <= 256 MiB: ${verdict(v.pass[0])}`,
  );
  lines.push(
    `   (2) each SEMail daemon idle after the load: USS ${v.daemonUss.map(([n, uss]) => `${n} ${mib(uss)}`).join(", ")} MiB, each <= 32 MiB: ${verdict(v.pass[1])}`,
  );
  lines.push(
    `   (3) peak PSS under load: inbound+outbound ${mib(v.smtpPeakPss)} MiB <= Postfix ${v.postfixPeakPss === undefined ? "(not run)" : `${mib(v.postfixPeakPss)} MiB`}: ${v.pass[2] === undefined ? "n/a" : verdict(v.pass[2])}`,
  );
  return lines.join("\n");
}

/** One line per variant: the memory figures the targets use and the rates, to weigh each lever. */
export function leversReport(results: readonly VariantResult[], postfix: SideResult | undefined): string {
  const widths = [44, 9, 9, 9, 9, 10, ...results[0]!.rates.flatMap(() => [8, 8])];
  const lines = [
    row(
      [
        "variant (MiB, msg/s)",
        "all PSS",
        "in USS",
        "out USS",
        "web USS",
        "peak SMTP",
        ...results[0]!.rates.flatMap(({ shape }) => [`in ${shape.size / 1024}k`, `out ${shape.size / 1024}k`]),
      ],
      widths,
    ),
  ];
  const uss = (r: VariantResult, name: string) => mib(r.idle.find((m) => m.name === name)?.uss ?? 0);
  for (const r of results) {
    const v = verdicts(r, postfix);
    lines.push(
      row(
        [
          r.variant.name.slice(0, 44),
          mib(v.allIdlePss),
          uss(r, "inbound"),
          uss(r, "outbound"),
          uss(r, "web form"),
          mib(v.smtpPeakPss),
          ...r.rates.flatMap(({ rates }) => [rates.inbound.toFixed(0), rates.outbound.toFixed(0)]),
        ],
        widths,
      ),
    );
  }
  if (postfix) {
    lines.push(
      row(
        [
          "postfix",
          mib(total(postfix.idle).pss),
          "-",
          "-",
          "-",
          mib(postfix.peaks.groups.get("postfix")?.pss ?? 0),
          ...postfix.rates.flatMap(({ rates }) => [rates.inbound.toFixed(0), rates.outbound.toFixed(0)]),
        ],
        widths,
      ),
    );
  }
  return lines.join("\n");
}

/**
 * Inbound with the arrival checks off and on, for each variant run both ways: its memory idle
 * after start, idle after the load and at the load's peak, its CPU per message and its rate.
 */
export function arrivalChecksReport(results: readonly VariantResult[]): string {
  const shapes = results[0]?.rates.map(({ shape }) => shape) ?? [];
  const widths = [40, 10, 10, 10, 10, ...shapes.flatMap(() => [12, 9])];
  const lines = [
    "arrival checks on inbound (SPF, DKIM, DMARC, ARC by mailauth; the load's sender domain on the bench's named):",
    row(
      [
        "inbound (MiB, ms, msg/s)",
        "start PSS",
        "idle PSS",
        "idle USS",
        "peak PSS",
        ...shapes.flatMap((s) => [`cpu/msg ${s.size / 1024}k`, `in ${s.size / 1024}k`]),
      ],
      widths,
    ),
  ];
  const inbound = (list: readonly ServiceMemory[]) => list.find((m) => m.name === "inbound");
  for (const r of results) {
    lines.push(
      row(
        [
          r.variant.name.slice(0, 40),
          mib(inbound(r.afterStart)?.pss ?? 0),
          mib(inbound(r.idle)?.pss ?? 0),
          mib(inbound(r.idle)?.uss ?? 0),
          mib(r.peaks.services.get("inbound")?.pss ?? 0),
          ...r.rates.flatMap(({ rates }, i) => [(r.inboundCpuMs?.[i] ?? 0).toFixed(2), rates.inbound.toFixed(0)]),
        ],
        widths,
      ),
    );
  }
  return lines.join("\n");
}
