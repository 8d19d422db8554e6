// The part of the mailbox page where owners list, add and remove the SSH public keys that
// open their container (through the VM's jump account).
import { sshKeyFingerprint } from "../config/ssh-key.ts";
import type { MailboxEntry } from "../config/users-list.ts";
import { html, type Html } from "./html.ts";

// The textarea always starts empty: text the form refused is never echoed (it may be a private key).
export function sshKeysSection(m: MailboxEntry, csrf: Html): Html {
  const rows = m.sshKeys.map((key) => {
    const fingerprint = sshKeyFingerprint(key);
    const [type, , ...comment] = key.split(" ");
    return html`<li><code>${type}</code> <code class="address">${fingerprint}</code> ${comment.join(" ")}
<form method="post" action="/mailbox/keys/remove" class="inline">
${csrf}
<input type="hidden" name="fingerprint" value="${fingerprint}">
<button type="submit" class="link" aria-label="Remove the key ${fingerprint}">Remove</button>
</form></li>`;
  });
  return html`<h2 id="ssh-keys">SSH keys</h2>
<p>These keys open your container. Add the public half of a key pair you own (the line in <code>~/.ssh/id_ed25519.pub</code>; <code>ssh-keygen -t ed25519</code> makes one). A change takes effect at the next login, within a minute. Adding or removing a key does not restart your container: open sessions go on, and your home (<code>~</code>, kept on your mail filesystem) and the programs you installed stay.</p>
${m.sshKeys.length === 0 ? html`<p>No key yet: nobody can open your container.</p>` : html`<ul class="keys">${rows}</ul>`}
<form method="post" action="/mailbox/keys">
${csrf}
<label for="sshKey">Public key</label>
<textarea id="sshKey" name="sshKey" rows="6" required maxlength="8192" spellcheck="false" autocomplete="off" placeholder="ssh-ed25519 AAAA... you@laptop"></textarea>
<button type="submit">Add this key</button>
</form>`;
}
