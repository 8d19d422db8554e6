// HTML built by a tagged template that escapes every interpolated value unless it is
// already Html: escaping is the default, so a forgotten call cannot open an injection.

export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/**
 * Lines to copy (DNS records, a command) in a box: each line wraps with a hanging indent
 * (the stylesheet's `pre .line`), so a wrapped record still reads as one, and keeps its
 * newline inside, so copying gives the lines as they are.
 */
export function codeLines(lines: readonly string[]): Html {
  return html`<pre><code>${lines.map((line, i) => html`<span class="line">${line}${i < lines.length - 1 ? "\n" : ""}</span>`)}</code></pre>`;
}
