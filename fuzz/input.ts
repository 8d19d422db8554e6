// The fuzzer's bytes read as structured choices, deterministically: the same bytes always make
// the same choices, so a saved crash replays exactly (tests/fuzz/regressions.test.ts). Reading
// past the end yields zeros and empty strings, never an error.

export class Input {
  readonly #data: Buffer;
  #at = 0;

  constructor(data: Uint8Array) {
    this.#data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.#data.length - this.#at;
  }

  byte(): number {
    return this.#at < this.#data.length ? this.#data[this.#at++]! : 0;
  }

  bool(): boolean {
    return (this.byte() & 1) === 1;
  }

  /** An integer in [0, max]. */
  int(max: number): number {
    if (max <= 0) return 0;
    let value = 0;
    for (let range = max; range > 0; range = Math.floor(range / 256)) value = value * 256 + this.byte();
    return value % (max + 1);
  }

  pick<T>(choices: readonly T[]): T {
    return choices[this.int(choices.length - 1)]!;
  }

  /** `n` bytes (fewer at the end). */
  bytes(n: number): Buffer {
    const out = this.#data.subarray(this.#at, this.#at + n);
    this.#at += out.length;
    return out;
  }

  /** Bytes up to a length byte's worth (at most `max`). */
  chunk(max = 255): Buffer {
    return this.bytes(this.int(max));
  }

  /** A short string: its bytes as UTF-8 (lossy) or as Latin-1, the fuzzer's choice. */
  string(max = 255): string {
    const utf8 = this.bool();
    const bytes = this.chunk(max);
    return bytes.toString(utf8 ? "utf8" : "latin1");
  }

  /** Everything not read yet. */
  rest(): Buffer {
    const out = this.#data.subarray(this.#at);
    this.#at = this.#data.length;
    return out;
  }

  /** The rest split in up to `parts` pieces at the 0x00 separator (the last piece takes what is left). */
  split(parts: number): Buffer[] {
    const rest = this.rest();
    const out: Buffer[] = [];
    let start = 0;
    while (out.length < parts - 1) {
      const sep = rest.indexOf(0, start);
      if (sep === -1) break;
      out.push(rest.subarray(start, sep));
      start = sep + 1;
    }
    out.push(rest.subarray(start));
    return out;
  }
}

/** `data` cut in pieces at positions the input chooses: what a stream's chunks look like. */
export function chunked(data: Buffer, cuts: Input): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const n = 1 + cuts.int(Math.min(255, data.length - at - 1));
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

/** Thrown when a property does not hold: the fuzzer saves the input as a crash. */
export class PropertyError extends Error {
  constructor(property: string, detail: unknown) {
    super(`${property}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    this.name = "PropertyError";
  }
}

export function check(ok: boolean, property: string, detail: () => unknown = () => ""): asserts ok {
  if (!ok) throw new PropertyError(property, detail());
}
