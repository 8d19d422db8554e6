// Memory of the services, per service (its whole process tree) and summed: one snapshot
// now, or the peaks over a stretch of load, sampled every few hundred milliseconds.
import { addMemory, maxMemory, NO_MEMORY, treeMemory, type Memory } from "../lib/smaps.ts";
import type { Service } from "./stack.ts";

export interface ServiceMemory extends Memory {
  readonly name: string;
  readonly daemon: boolean;
  readonly processes: number;
}

export async function snapshot(services: readonly Service[]): Promise<ServiceMemory[]> {
  const each: ServiceMemory[] = [];
  for (const service of services)
    each.push({ name: service.name, daemon: service.daemon, ...(await treeMemory(await service.pid())) });
  return each;
}

export function total(each: readonly Memory[]): Memory {
  return each.reduce<Memory>((sum, m) => addMemory(sum, { rss: m.rss, pss: m.pss, uss: m.uss }), NO_MEMORY);
}

/** Peaks while sampling: each service's own, and each group's summed at one instant (not a sum of peaks). */
export interface Peaks {
  readonly services: ReadonlyMap<string, Memory>;
  readonly groups: ReadonlyMap<string, Memory>;
}

export function samplePeaks(
  services: readonly Service[],
  groups: Readonly<Record<string, (name: string) => boolean>>,
  everyMs = 250,
): { stop(): Promise<Peaks> } {
  const perService = new Map<string, Memory>();
  const perGroup = new Map<string, Memory>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const now = await snapshot(services);
      for (const m of now) perService.set(m.name, maxMemory(perService.get(m.name) ?? NO_MEMORY, m));
      for (const [group, member] of Object.entries(groups)) {
        perGroup.set(group, maxMemory(perGroup.get(group) ?? NO_MEMORY, total(now.filter((m) => member(m.name)))));
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { services: perService, groups: perGroup };
    },
  };
}
