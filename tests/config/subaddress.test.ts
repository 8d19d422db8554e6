// Sub-addressing's split, by itself.
import assert from "node:assert/strict";
import { test } from "node:test";
import { splitSubaddress } from "../../config/subaddress.ts";

test("splits id+tag@domain at the first separator of the local part", () => {
  assert.deepEqual(splitSubaddress("ada+shop+2@semail.test", "+"), { base: "ada@semail.test", tag: "shop+2" });
  assert.deepEqual(splitSubaddress("ada_x@semail.test", "_"), { base: "ada@semail.test", tag: "x" });
  assert.deepEqual(splitSubaddress("ada+@semail.test", "+"), { base: "ada@semail.test", tag: "" });
});

test("finds no tag without an id before it, in the domain, or with the separator off", () => {
  assert.equal(splitSubaddress("+ada@semail.test", "+"), undefined);
  assert.equal(splitSubaddress("ada@semail+test", "+"), undefined);
  assert.equal(splitSubaddress("ada+x@semail.test", ""), undefined);
  assert.equal(splitSubaddress("ada+x", "+"), undefined);
});
