// bench/memory: the whole VM's set of services as production runs them, on loopback with
// free ports: the inbound and outbound daemons and the web form (the bundle, each its own
// process, with the daemons image's node flags and ENV), slapd, named, Dovecot and the
// webmail (Roundcube on php -S). A load of 4 KiB and 100 KiB messages goes through inbound
// and outbound at once, then a user reads by IMAP, the webmail and the web form; once idle,
// each service's PSS, USS and RSS (its whole process tree, from smaps_rollup) are printed,
// and summed, against the targets of issue 16. Postfix takes the same load in the same run
// (one instance: mbox delivery for the managed domain, relay to the sink for the rest).
//
//   npm run bench -- memory [--messages 1000] [--sizes 4,100] [--inbound-sessions 100]
//     [--outbound-sessions 10] [--mailboxes 10] [--idle 60] [--no-postfix]
//     [--variant="MALLOC_ARENA_MAX=2 --max-old-space-size=64"]... [--levers] [--rspamd]
//     [--arrival-checks]
//
// A --variant (written with "=": its value may start with "--"; "" is the image as shipped) changes the daemons' node flags and environment from what the image ships
// (bench/memory/variants.ts); --levers runs each lever alone, for the one-line comparison.
// --rspamd adds the optional Rspamd (inbound.rspamd) as one more row: idle, and after scoring
// 200 messages (bench/memory/rspamd-memory.ts), and the VM's idle total with it.
// --arrival-checks runs each variant again with inbound's SPF, DKIM, DMARC and ARC checks on
// for the load (inbound.uncheckedNetworks empty, lookups on the bench's named) and prints
// inbound's memory and CPU per message with the checks off and on, side by side.
// Needs root: Dovecot and PHP run as other users, Postfix drops privileges.
import { access, constants } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { imageEnv } from "../lib/image-env.ts";
import { MboxCounter } from "../lib/mbox-count.ts";
import { postfixDir, removeDir } from "../lib/postfix.ts";
import { SMTP_SOURCE } from "../lib/smtp-source.ts";
import { startDaemons, type Launch } from "./daemons.ts";
import { putLoad, type Shape, type Target } from "./load.ts";
import { startReference } from "./postfix-side.ts";
import { readAsUsers } from "./readers.ts";
import { lastArrivalResults } from "./arrival-results.ts";
import { treeCpuSeconds } from "../relay/cpu.ts";
import { measureRspamd, rspamdReport } from "./rspamd-memory.ts";
import {
  arrivalChecksReport,
  leversReport,
  SMTP_DAEMONS,
  variantReport,
  verdicts,
  type SideResult,
  type VariantResult,
} from "./report.ts";
import { samplePeaks, snapshot, total } from "./sample.ts";
import { startStack, type Service, type Stack } from "./stack.ts";
import { leverSpecs, variant, type Variant } from "./variants.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Plan {
  readonly shapes: readonly Shape[];
  readonly idleMs: number;
}

/**
 * Idle after start, the load with peaks sampled, the readers, then idle again; with `inbound`,
 * the CPU that process tree spent per inbound message, per shape (only inbound mail reaches it).
 */
async function measureSide(
  stack: Stack,
  services: readonly Service[],
  target: Target,
  groups: Record<string, (name: string) => boolean>,
  plan: Plan,
  counter: MboxCounter,
  readers: boolean,
  inbound?: Service,
): Promise<SideResult> {
  await sleep(5000);
  const afterStart = await snapshot(services);
  const sampler = samplePeaks(services, groups);
  const rates: Array<SideResult["rates"][number]> = [];
  const cpuMs: number[] = [];
  const cpuNow = async () => (inbound ? treeCpuSeconds(await inbound.pid()) : 0);
  let peaks;
  try {
    for (const shape of plan.shapes) {
      const cpu = await cpuNow();
      rates.push({ shape, rates: await putLoad(target, stack.users, stack.sink, shape, counter) });
      cpuMs.push((((await cpuNow()) - cpu) * 1000) / shape.messages);
    }
    if (readers) await readAsUsers(stack);
  } finally {
    peaks = await sampler.stop();
  }
  await sleep(plan.idleMs);
  const idle = await snapshot(services);
  return { rates, afterStart, idle, peaks, ...(inbound ? { inboundCpuMs: cpuMs } : {}) };
}

/** One variant's run; with `arrivalChecks`, inbound checks the load's mail (Stack.checkedSettingsFile). */
async function runVariant(
  stack: Stack,
  entry: string,
  v: Variant,
  plan: Plan,
  counter: MboxCounter,
  arrivalChecks = false,
): Promise<VariantResult> {
  const launch: Launch = {
    nodeFlags: v.nodeFlags,
    env: v.env,
    entry,
    ...(arrivalChecks ? { settingsFile: stack.checkedSettingsFile } : {}),
  };
  const daemons = await startDaemons(stack, launch);
  try {
    const services = [...daemons.services, ...stack.services];
    const target: Target = {
      inboundPort: stack.settings.inbound.listen[0]!.port,
      submissionPort: stack.settings.outbound.listen[0]!.port,
      auth: { user: stack.users[0]!.owner, password: stack.users[0]!.password },
      inbox: (user) => join(stack.mailRoot, user.owner, "INBOX"),
    };
    const groups = { semail: () => true, smtp: (name: string) => (SMTP_DAEMONS as readonly string[]).includes(name) };
    const inbound = daemons.services.find((s) => s.name === "inbound");
    const side = await measureSide(stack, services, target, groups, plan, counter, true, inbound);
    // What inbound wrote on the last message says whether the checks ran: a run that did not measure them must not say it did.
    const results = await lastArrivalResults(target.inbox(stack.users[0]!));
    const ran = /\bspf=pass\b/.test(results) && /\bdmarc=pass\b/.test(results);
    if (ran !== arrivalChecks)
      throw new Error(
        `bench/memory: arrival checks ${arrivalChecks ? "on" : "off"}, but the last message's Authentication-Results is ${JSON.stringify(results)}`,
      );
    return {
      variant: arrivalChecks ? { ...v, name: `${v.name} + arrival checks` } : v,
      arrivalChecks,
      ...side,
    };
  } finally {
    await daemons.stop();
  }
}

async function runPostfix(stack: Stack, plan: Plan): Promise<SideResult> {
  const postfix = await startReference(stack);
  try {
    return await measureSide(
      stack,
      [postfix.service],
      postfix.target,
      { postfix: () => true },
      plan,
      new MboxCounter(),
      false,
    );
  } finally {
    await postfix.stop();
  }
}

async function missingPrerequisite(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "it needs root (Dovecot and PHP run as other users, Postfix drops privileges)";
  for (const program of [
    SMTP_SOURCE,
    "/usr/sbin/postfix",
    "/usr/sbin/dovecot",
    "/usr/bin/php",
    "/usr/sbin/slapd",
    "/usr/sbin/named",
    "/usr/bin/python3",
  ]) {
    if (
      !(await access(program, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      return `${program} not found`;
  }
  return undefined;
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      messages: { type: "string", default: "1000" },
      sizes: { type: "string", default: "4,100" },
      "inbound-sessions": { type: "string", default: "100" },
      "outbound-sessions": { type: "string", default: "10" },
      mailboxes: { type: "string", default: "10" },
      idle: { type: "string", default: "60" },
      "no-postfix": { type: "boolean", default: false },
      variant: { type: "string", multiple: true },
      levers: { type: "boolean", default: false },
      rspamd: { type: "boolean", default: false },
      "arrival-checks": { type: "boolean", default: false },
    },
  });
  const missing = await missingPrerequisite();
  if (missing) {
    console.log(`bench/memory: skipped: ${missing}`);
    return;
  }
  const plan: Plan = {
    shapes: values.sizes.split(",").map((kib) => ({
      size: Number(kib) * 1024,
      messages: Number(values.messages),
      inboundSessions: Number(values["inbound-sessions"]),
      outboundSessions: Number(values["outbound-sessions"]),
    })),
    idleMs: Number(values.idle) * 1000,
  };
  const shipped = { nodeFlags: await imageNodeFlags(), env: await imageEnv() };
  const specs = [...(values.levers ? leverSpecs(shipped) : []), ...(values.variant ?? [])];
  const variants = (specs.length > 0 ? specs : [""]).map((spec) => variant(shipped, spec));

  const dir = await postfixDir("semail-bench-memory-");
  let stack: Stack | undefined;
  try {
    // Built into the run's own directory, as the image holds it: no node_modules beside it.
    const entry = await bundle(join(dir, "dist"));
    stack = await startStack(dir, Number(values.mailboxes));
    console.log(
      `bench/memory: per load ${plan.shapes.map((s) => `${s.messages} x ${s.size / 1024} KiB`).join(", then ")} in (${values["inbound-sessions"]} sessions over ${values.mailboxes} mailboxes) and out (${values["outbound-sessions"]} sessions) at once; idle measured ${values.idle} s after the load; ${new Date().toISOString()}`,
    );
    const counter = new MboxCounter();
    const results: VariantResult[] = [];
    for (const v of variants) {
      results.push(await runVariant(stack, entry, v, plan, counter));
      if (values["arrival-checks"]) results.push(await runVariant(stack, entry, v, plan, counter, true));
    }
    const postfix = values["no-postfix"] ? undefined : await runPostfix(stack, plan);
    for (const r of results) {
      const env = Object.entries(r.variant.env)
        .map(([k, val]) => `${k}=${val}`)
        .join(" ");
      console.log(
        variantReport(
          r,
          postfix,
          `${env ? `${env} ` : ""}node ${[...r.variant.nodeFlags, relative(dir, entry)].join(" ")}`,
        ),
      );
    }
    if (variants.length > 1)
      console.log(`levers, each against the same Postfix run:\n${leversReport(results, postfix)}`);
    if (values["arrival-checks"]) console.log(arrivalChecksReport(results));
    if (values.rspamd) {
      const rspamd = await measureRspamd();
      const all = total(results[0]!.idle).pss + rspamd.afterLoad.pss;
      console.log(`${rspamdReport(rspamd)}\n  all of SEMail idle with rspamd: ${(all / 1024 ** 2).toFixed(1)} MiB PSS`);
    }
    console.log(
      JSON.stringify({
        bench: "memory",
        plan,
        results: results.map((r) => ({
          variant: r.variant,
          arrivalChecks: r.arrivalChecks,
          inboundCpuMs: r.inboundCpuMs,
          rates: r.rates,
          idle: r.idle,
          afterStart: r.afterStart,
          peaks: Object.fromEntries(r.peaks.groups),
          verdicts: verdicts(r, postfix),
        })),
        postfix: postfix && {
          rates: postfix.rates,
          idle: postfix.idle,
          peaks: Object.fromEntries(postfix.peaks.groups),
        },
      }),
    );
  } finally {
    await stack?.stop();
    await removeDir(dir);
  }
}

if (import.meta.main) await main(process.argv.slice(2));
