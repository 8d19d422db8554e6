// The other SEMail hosts told by their addresses: v4 (also v4-mapped) and v6, never this host
// itself, and which of them have no address to tell them by.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { peerHosts, peerNetworks } from "../../../mailservers/inbound/peer-hosts.ts";

const host = (extra: { ip?: string; ip6?: string }) => ({
  smtp: "192.0.2.9:25",
  mx: "mx.example.net",
  mailRoot: "/srv/mail",
  ...extra,
});

const settings = {
  hostName: "a",
  hosts: {
    a: host({ ip: "192.0.2.1" }),
    b: host({ ip: "192.0.2.2", ip6: "2001:db8::2" }),
    c: host({ ip6: "2001:db8::3" }),
    d: host({}),
  },
};

describe("peer hosts", () => {
  it("names the other host at an address, and none for this host's own or a stranger's", () => {
    const peers = peerHosts(settings);
    assert.equal(peers.at("192.0.2.2"), "b");
    assert.equal(peers.at("::ffff:192.0.2.2"), "b");
    assert.equal(peers.at("2001:db8::2"), "b");
    assert.equal(peers.at("2001:db8::3"), "c");
    assert.equal(peers.at("192.0.2.1"), undefined, "this host is no peer of its own");
    assert.equal(peers.at("192.0.2.3"), undefined);
    assert.equal(peers.at("2001:db8::4"), undefined);
    assert.deepEqual([...peers.unaddressed], ["d"]);
  });

  it("gives the other hosts' addresses as networks for the arrival checks to leave alone", () => {
    assert.deepEqual(
      peerNetworks(settings).map((n) => `${n.address}/${n.prefix}`),
      ["192.0.2.2/32", "2001:db8::2/128", "2001:db8::3/128"],
    );
  });
});
