// A DNS domain name as mail addresses here use it: lowercase labels, at least two, not all digits at the end.

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `domain` is not a valid lowercase DNS name, or undefined when it is. */
export function domainProblem(domain: string): string | undefined {
  const labels = domain.split(".");
  if (
    domain.length <= 253 &&
    labels.length >= 2 &&
    labels.every((l) => LABEL.test(l)) &&
    !/^\d+$/.test(labels.at(-1)!)
  ) {
    return undefined;
  }
  return `${JSON.stringify(domain)} is not a valid domain: use lowercase labels of a-z, 0-9, '-' separated by dots`;
}
