// A firewall that keeps the banned addresses in a set, for the watcher's tests without root.
import type { Firewall } from "../../../services/bans/firewall.ts";

export function recordingFirewall(): Firewall & { readonly banned: Set<string>; installs: number } {
  const banned = new Set<string>();
  return {
    banned,
    installs: 0,
    async install(addresses) {
      this.installs++;
      banned.clear();
      for (const a of addresses) banned.add(a);
    },
    async ban(address) {
      banned.add(address);
    },
    async unban(address) {
      banned.delete(address);
    },
    async uninstall() {
      banned.clear();
    },
  };
}
