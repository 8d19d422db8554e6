// A pino destination that keeps every line a part logs, so a parser is tested on the very
// lines the part writes.
import type { DestinationStream } from "pino";

export function capturedLines(): DestinationStream & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    write(text: string) {
      lines.push(...text.split("\n").filter((line) => line !== ""));
    },
  };
}
