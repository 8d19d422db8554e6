// A container upload as upstream sends it: a tar of one file (its absolute path as the
// entry's name, owned by root, the mode from `permissions`, else 0744 when executable, else
// 0644), extracted at "/" in the container (`docker cp - ID:/`). Missing parent folders are
// made by Docker's extraction, as for upstream.

const BLOCK = 512;

function field(header: Buffer, offset: number, length: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length > length) throw new Error(`tar header field too long: ${JSON.stringify(text)}`);
  bytes.copy(header, offset);
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  field(header, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a slash. */
function splitName(path: string): [prefix: string, name: string] {
  if (Buffer.byteLength(path) <= 100) return ["", path];
  for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) {
    const [prefix, name] = [path.slice(0, i), path.slice(i + 1)];
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(notStorable(path));
}

function notStorable(path: string): string {
  return `upload path ${JSON.stringify(path)} is too long for the test rig stand-in's tar writer`;
}

/** A one-file tar archive of `content` at `file` with `mode`. */
export function uploadTar(file: string, content: Buffer, mode: number, mtime: Date = new Date()): Buffer {
  const [prefix, name] = splitName(file.replace(/^\/+/, ""));
  const header = Buffer.alloc(BLOCK);
  field(header, 0, 100, name);
  octal(header, 100, 8, mode);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, content.length);
  octal(header, 136, 12, Math.floor(mtime.getTime() / 1000));
  header.fill(" ", 148, 156);
  field(header, 156, 1, "0");
  field(header, 257, 6, "ustar\0");
  field(header, 263, 2, "00");
  field(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(header, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, content, padding, Buffer.alloc(2 * BLOCK)]);
}

/** The mode upstream gives an upload. */
export function uploadMode(permissions: unknown, executable: unknown): number {
  if (typeof permissions === "string" && permissions !== "") return Number.parseInt(permissions, 8);
  return executable === true ? 0o744 : 0o644;
}
