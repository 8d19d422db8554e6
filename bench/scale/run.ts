// bench/scale: what one more user costs as the users list grows (issue 16, section 4).
// With lists of 10, 100 and 1,000 mailboxes (bench/lib/users-lists.ts), it measures:
//   - the users list itself: parse + validation, serialisation, and a per-message lookup;
//   - each daemon's reload after one added mailbox, and its memory after the change;
//   - the web form's write of one added mailbox, and a request's read of the list;
//   - local mode's applier for one added mailbox (plain directories, real named, no containers);
//   - local mode's users' containers: the docker commands one added mailbox costs (a stand-in engine);
//   - local mode's Dovecot (a real one) and Roundcube's identities after one added mailbox;
//   - the Pulumi program's resource graph under mocks;
//   - `pulumi preview` with the real engine, from empty state (the program inline, the rig's stand-in providers).
// Each table shows the figure at each size and what it says about one added user. Run as
// root (the applier chowns each mailbox to its mail uid, as local mode does):
//   npm run bench -- scale [--sizes 10,100,1000] [--adds 5] [--from-source] [--skip graph,daemons,...]
// (parts: list, form, applier, containers, imap, webmail, daemons, graph, preview)
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { median } from "../lib/median.ts";
import { measureApplier } from "./applier.ts";
import { measureContainerSync, type SyncSample } from "./containers.ts";
import { WATCH_DEBOUNCE_MS, measureDaemonReloads, type DaemonKind, type Launch, type ReloadSample } from "./daemons.ts";
import { buildGraph, type GraphSample } from "./graph.ts";
import { measurePreview, previewUnavailable, type PreviewSample } from "./preview.ts";
import { imapUnavailable, measureImapReloads, type ImapReloadSample } from "./imap.ts";
import { measureList, type ListSample } from "./lookups.ts";
import { measureForm, type FormSample } from "./web-form.ts";
import { measureIdentitySync, webmailUnavailable } from "./webmail.ts";

const PARTS = ["list", "form", "applier", "containers", "imap", "webmail", "daemons", "graph", "preview"] as const;
type Part = (typeof PARTS)[number];

const ms = (v: number) => `${v.toFixed(v >= 100 ? 0 : v >= 1 ? 1 : 2)} ms`;
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

/** One table: a row per measure, a column per size, and what growth the row shows. */
function table(
  title: string,
  sizes: readonly number[],
  rows: ReadonlyArray<{ name: string; cells: readonly string[]; growth: string }>,
  notes: readonly string[] = [],
): void {
  const width = Math.max(26, ...rows.map((r) => r.name.length + 2));
  console.log(`\n${title}`);
  for (const note of notes) console.log(`  ${note}`);
  console.log(`  ${"".padEnd(width)}${sizes.map((n) => `${n} users`.padStart(14)).join("")}   one added user`);
  for (const row of rows)
    console.log(`  ${row.name.padEnd(width)}${row.cells.map((c) => c.padStart(14)).join("")}   ${row.growth}`);
}

/**
 * For a cost paid once per change (a reload, an apply): how much each mailbox already
 * listed adds to it, from the smallest to the largest list. Flat is what we want; a whole-
 * list re-read costs a few microseconds per mailbox and shows here.
 */
function perChangeGrowth(sizes: readonly number[], values: readonly number[], unit = "ms"): string {
  const first = values[0]!;
  const last = values.at(-1)!;
  const slope = ((last - first) / (sizes.at(-1)! - sizes[0]!)) * 1000;
  return `×${(last / first).toFixed(2)} from ${sizes[0]} to ${sizes.at(-1)}; ${slope >= 0 ? "+" : ""}${slope.toFixed(1)} µs per listed mailbox (${unit === "ms" ? "per change" : unit})`;
}

/** What each listed mailbox adds to a daemon's memory, from the smallest list to the largest. */
function memoryGrowth(sizes: readonly number[], bytes: readonly number[]): string {
  const slope = (bytes.at(-1)! - bytes[0]!) / (sizes.at(-1)! - sizes[0]!) / 1024;
  return `${slope >= 0 ? "+" : ""}${slope.toFixed(1)} KiB per listed mailbox`;
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sizes: { type: "string", default: "10,100,1000" },
      adds: { type: "string", default: "5" },
      "from-source": { type: "boolean", default: false },
      skip: { type: "string", default: "" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const adds = Number(values.adds);
  const skip = new Set(values.skip.split(",").filter(Boolean));
  for (const s of skip) if (!PARTS.includes(s as Part)) throw new Error(`--skip ${s}: parts are ${PARTS.join(", ")}`);
  const runs = (part: Part) => !skip.has(part);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(adds >= 1))
    throw new Error("--sizes takes positive integers (10,100,1000) and --adds at least 1");

  const dir = await mkdtemp(join(tmpdir(), "semail-bench-scale-"));
  const summary: Record<string, unknown> = { bench: "scale", sizes, adds };
  console.log(
    `bench/scale: users lists of ${sizes.join(", ")} mailboxes; ${adds} mailboxes added one at a time at each size, median reported`,
  );
  try {
    if (runs("list")) {
      measureList(sizes.at(-1)!, 2); // warm-up: the JIT, not counted
      const lists: ListSample[] = sizes.map((n) => measureList(n, 5));
      summary.list = lists;
      table(
        "The users list (config/users-list.ts), in this process",
        sizes,
        [
          {
            name: "parse + validate",
            cells: lists.map((l) => ms(l.parseMs)),
            growth: perChangeGrowth(
              sizes,
              lists.map((l) => l.parseMs),
              "per whole-list read",
            ),
          },
          {
            name: "serialise",
            cells: lists.map((l) => ms(l.serializeMs)),
            growth: perChangeGrowth(
              sizes,
              lists.map((l) => l.serializeMs),
              "per whole-list write",
            ),
          },
          {
            name: "entries as JSON",
            cells: lists.map((l) => ms(l.jsonMs)),
            growth: perChangeGrowth(
              sizes,
              lists.map((l) => l.jsonMs),
              "per comparison of two lists",
            ),
          },
          {
            name: "RCPT lookup (per message)",
            cells: lists.map((l) => `${l.lookupUs.toFixed(2)} µs`),
            growth: `×${(lists.at(-1)!.lookupUs / lists[0]!.lookupUs).toFixed(2)} from ${sizes[0]} to ${sizes.at(-1)} (flat: a map lookup)`,
          },
        ],
        [
          "every reload parses the whole list; the daemons' watcher and `semail start` compare lists as JSON; each RCPT TO looks an address up in it",
        ],
      );
    }

    if (runs("form")) {
      await measureForm(dir, sizes[0]!, 2); // warm-up, not counted
      const form: FormSample[] = [];
      for (const n of sizes) form.push(await measureForm(dir, n, adds));
      summary.form = form;
      const add = form.map((f) => median(f.addMs));
      table(
        "The web form (webform/users-list-file.ts)",
        sizes,
        [
          { name: "add one mailbox", cells: add.map(ms), growth: perChangeGrowth(sizes, add) },
          {
            name: "read the list (a request)",
            cells: form.map((f) => ms(f.readMs)),
            growth: perChangeGrowth(
              sizes,
              form.map((f) => f.readMs),
              "per request",
            ),
          },
        ],
        [
          "add: read, plan, validate, synced atomic write of the whole list; read: what each request does between two changes",
        ],
      );
    }

    if (runs("applier")) {
      const first: number[] = [];
      const add: number[] = [];
      for (const n of sizes) {
        const sample = await measureApplier(dir, n, adds);
        first.push(sample.firstMs);
        add.push(median(sample.addMs));
      }
      summary.applier = { first, add };
      table(
        "Local mode's applier (deploy/local/applier.ts)",
        sizes,
        [
          { name: "add one mailbox", cells: add.map(ms), growth: perChangeGrowth(sizes, add) },
          {
            name: "first apply (all n)",
            cells: first.map(ms),
            growth: `${((first.at(-1)! / sizes.at(-1)!) * 1000).toFixed(0)} µs per mailbox at ${sizes.at(-1)} (local mode's start)`,
          },
        ],
        [
          `as \`semail start --no-images --no-containers\`${process.getuid?.() === 0 ? " as root" : " (not root: no chown)"}: plain mailbox directories, the zone rendered and served by a real named,`,
          "Dovecot's users file rendered (config/imap-users.ts); not run: image files on loop mounts, users' containers, the daemons' own reloads",
        ],
      );
    }

    if (runs("containers")) {
      const samples: SyncSample[] = [];
      for (const n of sizes) samples.push(await measureContainerSync(dir, n, adds));
      summary.containers = samples;
      const add = samples.map((c) => median(c.addMs));
      const commands = samples.map((c) => median(c.addCommands));
      table(
        "Local mode's users' containers (deploy/local/containers.ts sync), on a stand-in engine",
        sizes,
        [
          {
            name: "docker commands per add",
            cells: commands.map(String),
            growth: `${commands.at(-1)! - commands[0]! >= 0 ? "+" : ""}${((commands.at(-1)! - commands[0]!) / (sizes.at(-1)! - sizes[0]!)).toFixed(2)} per listed mailbox (flat is 0)`,
          },
          ...[...new Set(samples.flatMap((c) => Object.keys(c.byKind)))].map((kind) => ({
            name: `  docker ${kind}`,
            cells: samples.map((c) => String(c.byKind[kind] ?? 0)),
            growth: "in the last added mailbox's sync",
          })),
          { name: "sync in this process", cells: add.map(ms), growth: perChangeGrowth(sizes, add) },
          {
            name: "first sync: commands",
            cells: samples.map((c) => String(c.firstCommands)),
            growth: "from nothing to n (local mode's start)",
          },
        ],
        [
          "a stand-in engine answers at once (1,000 real containers do not fit here): on a real one each command is a docker CLI",
          "process and an API call, tens of ms, and each health exec waits for the container's sshd",
        ],
      );
    }

    if (runs("imap")) {
      const why = await imapUnavailable();
      if (why) console.log(`\nLocal mode's Dovecot: not measured (${why})`);
      else {
        const samples: ImapReloadSample[] = [];
        for (const n of sizes) samples.push(await measureImapReloads(n, adds));
        summary.imap = samples;
        const written = samples.map((s) => median(s.writtenMs));
        const seen = samples.map((s) => median(s.seenMs));
        table(
          "Local mode's Dovecot (services/imap/dovecot.ts reload), a real Dovecot",
          sizes,
          [
            { name: "reload: users file written", cells: written.map(ms), growth: perChangeGrowth(sizes, written) },
            { name: "reload: Dovecot knows the user", cells: seen.map(ms), growth: perChangeGrowth(sizes, seen) },
          ],
          [
            "written: the users' directories and the users file (reload's own work); knows: Dovecot re-reads the file at most once a second",
          ],
        );
      }
    }

    if (runs("webmail")) {
      const why = await webmailUnavailable();
      if (why) console.log(`\nRoundcube's identities: not measured (${why})`);
      else {
        const sync: number[] = [];
        for (const n of sizes) sync.push(median(await measureIdentitySync(dir, n, adds)));
        summary.webmail = sync;
        table(
          "Roundcube's identities (services/webmail/identity-sync.ts, at roundcube.ts's reload), Roundcube's schema in SQLite",
          sizes,
          [{ name: "identities after one add", cells: sync.map(ms), growth: perChangeGrowth(sizes, sync) }],
          ["n users who have logged in once, one identity each; the added mailbox has not logged in yet"],
        );
      }
    }

    if (runs("daemons")) {
      const launch: Launch = values["from-source"]
        ? { node: process.execPath, args: [join(import.meta.dirname, "..", "..", "bin", "semail.mjs")] }
        : { node: process.execPath, args: [...(await imageNodeFlags()), await bundle(join(dir, "dist"))] };
      const rows = [];
      const daemons: Record<string, ReloadSample[]> = {};
      for (const kind of ["inbound", "outbound"] as DaemonKind[]) {
        const samples: ReloadSample[] = [];
        for (const n of sizes) samples.push(await measureDaemonReloads(launch, kind, dir, n, adds));
        daemons[kind] = samples;
        const reload = samples.map((s) => median(s.reloadMs));
        rows.push(
          { name: `${kind}: reload`, cells: reload.map(ms), growth: perChangeGrowth(sizes, reload) },
          {
            name: `${kind}: PSS at start`,
            cells: samples.map((s) => mib(s.startPss)),
            growth: memoryGrowth(
              sizes,
              samples.map((s) => s.startPss),
            ),
          },
          {
            name: `${kind}: PSS after`,
            cells: samples.map((s) => mib(s.pss)),
            growth: memoryGrowth(
              sizes,
              samples.map((s) => s.pss),
            ),
          },
          { name: `${kind}: RSS after`, cells: samples.map((s) => mib(s.rss)), growth: "" },
        );
      }
      summary.daemons = daemons;
      table(
        'The daemons: one added mailbox (the list replaced as the form does; rename → "users list reloaded")',
        sizes,
        rows,
        [
          `${values["from-source"] ? "from the sources" : "the bundle with the image's node flags"}; each reload time includes the ${WATCH_DEBOUNCE_MS} ms fs.watch debounce of config/users-file.ts`,
          "memory from /proc/<pid>/smaps_rollup (PSS) and status (RSS): at start (listening, 2 s idle), and right after the last added mailbox was reloaded",
        ],
      );
    }

    if (runs("graph")) {
      await buildGraph(sizes[0]!); // warm-up: module loading and the JIT, not counted
      const graphs: GraphSample[] = [];
      for (const n of sizes) graphs.push(await buildGraph(n));
      summary.graph = graphs;
      const marginal = graphs.map((g, i) =>
        i === 0 ? g.ms / sizes[0]! : (g.ms - graphs[i - 1]!.ms) / (sizes[i]! - sizes[i - 1]!),
      );
      table("The Pulumi program under mocks (components/stack.ts with the component tests' mock monitor)", sizes, [
        {
          name: "whole program",
          cells: graphs.map((g) => ms(g.ms)),
          growth: "Pulumi runs the whole program for every change: one added user costs a full run",
        },
        {
          name: "resources",
          cells: graphs.map((g) => String(g.resources)),
          growth: `${((graphs.at(-1)!.resources - graphs[0]!.resources) / (sizes.at(-1)! - sizes[0]!)).toFixed(0)} per mailbox`,
        },
        {
          name: "ms per added mailbox",
          cells: marginal.map(ms),
          growth: "the slope between sizes (the first: time / n): flat means linear in n",
        },
      ]);
    }

    if (runs("preview")) {
      const missing = previewUnavailable();
      if (missing !== undefined) console.log(`\n\`pulumi preview\` with the real engine: not measured: ${missing}`);
      else {
        const previews: PreviewSample[] = [];
        for (const n of sizes) previews.push(await measurePreview(n));
        summary.preview = previews;
        table(
          "`preview` with the real engine from empty state (deploy/pulumi/engine.ts: the program inline; the rig's stand-in providers)",
          sizes,
          [
            {
              name: "whole preview",
              cells: previews.map((p) => ms(p.ms)),
              growth: perChangeGrowth(
                sizes,
                previews.map((p) => p.ms),
                "per preview",
              ),
            },
            {
              name: "resources to create",
              cells: previews.map((p) => String(p.creates)),
              growth: `${((previews.at(-1)!.creates - previews[0]!.creates) / (sizes.at(-1)! - sizes[0]!)).toFixed(0)} per mailbox`,
            },
          ],
        );
      }
    }
    console.log(JSON.stringify(summary));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main(process.argv.slice(2));
