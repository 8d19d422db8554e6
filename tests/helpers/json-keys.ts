// JSON.parse keeps the last of two equal keys without a word (so does jq), so a log line
// like {"part":"outbound","part":"send"} parses "fine". This scanner finds such keys.

/** The keys that occur twice in one object of `text`, as dotted paths; throws if `text` is not JSON. */
export function duplicateKeys(text: string): string[] {
  JSON.parse(text);
  const found: string[] = [];
  let i = 0;
  const space = () => {
    while (" \t\r\n".includes(text[i] ?? "x")) i += 1;
  };
  const string = (): string => {
    const start = i;
    for (i += 1; text[i] !== '"'; i += 1) if (text[i] === "\\") i += 1;
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  // The text is valid JSON (parsed above), so each step may trust what comes next.
  const value = (path: string): void => {
    space();
    const open = text[i];
    if (open === "{" || open === "[") {
      i += 1;
      const seen = new Set<string>();
      for (let n = 0; ; n += 1) {
        space();
        if (text[i] === "}" || text[i] === "]") break;
        let key = String(n);
        if (open === "{") {
          key = string();
          if (seen.has(key)) found.push(path + key);
          seen.add(key);
          space();
          i += 1; // the colon
        }
        value(`${path}${key}.`);
        space();
        if (text[i] === ",") i += 1;
      }
      i += 1;
    } else if (open === '"') {
      string();
    } else {
      while (i < text.length && !",}] \t\r\n".includes(text[i]!)) i += 1;
    }
  };
  value("");
  return found;
}
