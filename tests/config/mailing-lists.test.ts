// The posting rule as a group's businessCategory spells it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { postingRuleOf } from "../../config/mailing-lists.ts";

describe("postingRuleOf", () => {
  it("reads one 'post: RULE' value, members when none, and members with a problem for anything else", () => {
    assert.deepEqual(postingRuleOf([]), { rule: "members" });
    assert.deepEqual(postingRuleOf(["Engineering"]), { rule: "members" }, "other businessCategory values are not ours");
    assert.deepEqual(postingRuleOf(["post: anyone"]), { rule: "anyone" });
    assert.deepEqual(postingRuleOf([" Post:Moderators "]), { rule: "moderators" });
    assert.equal(postingRuleOf(["post: everyone"]).rule, "members");
    assert.match(postingRuleOf(["post: everyone"]).problem ?? "", /not exactly one of "post: members"/);
    assert.equal(postingRuleOf(["post: anyone", "post: members"]).rule, "members", "two rules: the safe one");
    assert.ok(postingRuleOf(["post: anyone", "post: members"]).problem);
  });
});
