// Putting a login name into a DN or a search filter without letting it change their meaning.
import { escapeFilter } from "ldapts";

/** Escapes a string for use as an attribute value in a DN (RFC 4514 section 2.4). */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  let out = "";
  for (const [i, ch] of chars.entries()) {
    if (ch === "\0") out += "\\00";
    else if (',+"\\<>;='.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === " " || ch === "#")) || (i === chars.length - 1 && ch === " ")) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

/** The DN for `uid` from a template such as "uid={uid},ou=people,dc=example,dc=org". */
export function userDnFromTemplate(template: string, uid: string): string {
  const escaped = escapeDnValue(uid);
  return template.replaceAll("{uid}", () => escaped);
}

/**
 * The filter for `uid` from a template such as "(&(objectClass=inetOrgPerson)(uid={uid}))":
 * each {uid} goes through ldapts's escapeFilter, so `*`, `(`, `)` and `\` stay literal.
 */
export function userFilterFromTemplate(template: string, uid: string): string {
  const parts = template.split("{uid}");
  const strings = Object.assign([...parts], { raw: [...parts] }) as unknown as TemplateStringsArray;
  return escapeFilter(strings, ...parts.slice(1).map(() => uid));
}
