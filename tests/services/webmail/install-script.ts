// What the webmail image's tests share: the users list they install from (one live subdomain,
// one live external domain, one pending claim), and the VM's way of running an install script.
import { execFile } from "node:child_process";

export const LIVE_AND_PENDING = [
  "mailboxes:",
  "  - {owner: alice, address: alice@alice.semail.test}",
  "  - {owner: dave, address: dave@example.org}",
  "  - {owner: carol, address: carol@carol.example, pendingProof: 0123456789abcdef0123}",
  "",
].join("\n");

/** Runs an install script as the VM does, `sh -s DIR` with the script on stdin. */
export function runInstallScript(script: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile("sh", ["-s", dir], { timeout: 20_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(),
    );
    child.stdin!.end(script);
  });
}
