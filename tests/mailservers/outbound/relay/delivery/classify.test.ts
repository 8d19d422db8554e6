import assert from "node:assert/strict";
import { test } from "node:test";
import { classify } from "../../../../../mailservers/outbound/relay/delivery/classify.ts";

test("4xx defers, 5xx bounces", () => {
  assert.equal(classify({ kind: "smtp", code: 451, enhanced: "4.7.1" }), "defer");
  assert.equal(classify({ kind: "smtp", code: 421 }), "defer");
  assert.equal(classify({ kind: "smtp", code: 550, enhanced: "5.1.1" }), "bounce");
  assert.equal(classify({ kind: "smtp", code: 554 }), "bounce");
});

test("a 5xx that says 4.x.x is given another try", () => {
  assert.equal(classify({ kind: "smtp", code: 550, enhanced: "4.2.2" }), "defer");
});

test("no reply code: only an explicit 5.x.x bounces", () => {
  assert.equal(classify({ kind: "smtp" }), "defer");
  assert.equal(classify({ kind: "smtp", enhanced: "5.3.4" }), "bounce");
  assert.equal(classify({ kind: "smtp", code: 250 }), "defer");
});

test("routing and connection failures", () => {
  assert.equal(classify({ kind: "connection" }), "defer");
  assert.equal(classify({ kind: "dns-temp" }), "defer");
  assert.equal(classify({ kind: "tls-required" }), "defer");
  assert.equal(classify({ kind: "dns-perm" }), "bounce");
  assert.equal(classify({ kind: "null-mx" }), "bounce");
  assert.equal(classify({ kind: "loop" }), "bounce");
});
