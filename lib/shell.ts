// Building shell command lines for remote commands. Pure.

/** Quotes one word for POSIX sh: safe for any text, including spaces and quotes. */
export function shellQuote(word: string | number): string {
  const text = String(word);
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted as needed. */
export function shellLine(...words: readonly (string | number)[]): string {
  return words.map(shellQuote).join(" ");
}
