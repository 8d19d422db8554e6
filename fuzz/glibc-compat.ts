// Jazzer.js 4.0.0's prebuilt fuzzer addon (the npm package's only build; its sources and libFuzzer
// are on GitHub, unreachable here) was linked against glibc 2.38 and libstdc++ 13, newer than
// Debian bookworm's (2.36, GCC 12). It asks for them for three symbols only:
// - __isoc23_strtol and __isoc23_strtoul (GLIBC_2.38): C23's strtol/strtoul, which differ only in
//   also reading a "0b" prefix; bound to strtol and strtoul (GLIBC_2.2.5) instead;
// - std::ios_base_library_init (GLIBCXX_3.4.32): a reference GCC 13 adds to pin the library
//   version, with no relocation, so never bound; its version need becomes GLIBCXX_3.4.29.
// This rewrites a copy of the addon so (the names' suffixes, the version needs' names); the
// original in node_modules is left alone. Anything else unexpected in the file: no copy, and the
// original's own load error stands.
const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const C23 = "__isoc23_";
/** Version need -> the older one it is rewritten to, with the file that defines both. */
const OLDER: Record<string, string> = { "GLIBC_2.38": "GLIBC_2.2.5", "GLIBCXX_3.4.32": "GLIBCXX_3.4.29" };

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
}

function cString(data: Buffer, at: number): string {
  return data.toString("latin1", at, data.indexOf(0, at));
}

/** The patched addon's bytes, or undefined when `data` is not the addon this expects. */
export function patchAddon(data: Buffer): Buffer | undefined {
  const out = Buffer.from(data);
  if (out.readUInt32BE(0) !== 0x7f454c46 || out[4] !== 2 || out[5] !== 1) return undefined; // ELF64, little-endian
  const shoff = Number(out.readBigUInt64LE(0x28));
  const shentsize = out.readUInt16LE(0x3a);
  const sections: Section[] = Array.from({ length: out.readUInt16LE(0x3c) }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      type: out.readUInt32LE(at + 4),
      offset: Number(out.readBigUInt64LE(at + 0x18)),
      size: Number(out.readBigUInt64LE(at + 0x20)),
      link: out.readUInt32LE(at + 0x28),
    };
  });
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (!dynsym || !versym || !verneed) return undefined;
  const strtab = sections[dynsym.link]!.offset;
  // Each version need by name: where its entry is, its index, its hash and name offset.
  const needs = new Map<string, { at: number; index: number; hash: number; name: number; file: string }[]>();
  for (let vn = verneed.offset; ; ) {
    const file = cString(out, strtab + out.readUInt32LE(vn + 4));
    for (let i = 0, aux = vn + out.readUInt32LE(vn + 8); i < out.readUInt16LE(vn + 2); i++) {
      const name = out.readUInt32LE(aux + 8);
      const entry = { at: aux, index: out.readUInt16LE(aux + 6), hash: out.readUInt32LE(aux), name, file };
      const key = cString(out, strtab + name);
      needs.set(key, [...(needs.get(key) ?? []), entry]);
      aux += out.readUInt32LE(aux + 12);
    }
    const next = out.readUInt32LE(vn + 12);
    if (next === 0) break;
    vn += next;
  }
  let changed = false;
  for (const [newer, older] of Object.entries(OLDER)) {
    for (const need of needs.get(newer) ?? []) {
      const target = needs.get(older)?.find((n) => n.file === need.file);
      if (!target) return undefined;
      // Symbols of the newer version: only the C23 ones, bound to their classic names, may have one.
      for (let i = 0; i < dynsym.size / 24; i++) {
        if ((out.readUInt16LE(versym.offset + 2 * i) & 0x7fff) !== need.index) continue;
        const sym = dynsym.offset + 24 * i;
        const name = cString(out, strtab + out.readUInt32LE(sym));
        if (name.startsWith(C23)) {
          out.writeUInt32LE(out.readUInt32LE(sym) + C23.length, sym);
          out.writeUInt16LE(target.index, versym.offset + 2 * i);
        } else if (name !== "_ZSt21ios_base_library_initv") return undefined;
      }
      out.writeUInt32LE(target.hash, need.at);
      out.writeUInt32LE(target.name, need.at + 8);
      changed = true;
    }
  }
  return changed ? out : undefined;
}
