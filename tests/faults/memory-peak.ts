// The peak of a process's memory while a fault is on: smaps_rollup read every `everyMs`
// (bench/lib/smaps.ts), the largest RSS and USS kept, until stop().
import { maxMemory, NO_MEMORY, processMemory, type Memory } from "../../bench/lib/smaps.ts";

export interface MemoryPeak {
  /** Stops sampling and answers the peak seen. */
  stop(): Promise<Memory>;
  /** The peak so far. */
  readonly peak: Memory;
}

export function sampleMemoryPeak(pid: number, everyMs = 200): MemoryPeak {
  let peak = NO_MEMORY;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = maxMemory(peak, await processMemory(pid));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    get peak() {
      return peak;
    },
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

export const mib = (bytes: number): string => (bytes / 1024 ** 2).toFixed(1);
