// One row of the fault matrix (npm run faults): what was sent, what got a 250, what arrived,
// and the two numbers that must be zero. Each row's test ends with recordOutcome, which
// asserts them and, under `npm run faults`, appends the row to the table file.
import assert from "node:assert/strict";
import { appendFile } from "node:fs/promises";
import type { Tally } from "./ledger.ts";

/** Set by faults/run.ts: the JSON-lines file its table is printed from. */
export const TABLE_FILE_VARIABLE = "SEMAIL_FAULTS_TABLE";

export interface FaultOutcome extends Tally {
  /** The row's name, as the table shows it: "filesystem full during an append". */
  readonly fault: string;
  /** From the fault's end to the first message accepted and delivered again; null when the row has no recovery step. */
  readonly recoveryMs: number | null;
  /** What else the row measured: the replies it saw, a memory figure. */
  readonly note?: string;
}

/** Asserts that nothing 250'd was lost or doubled and nothing refused arrived, then records the row. */
export async function recordOutcome(outcome: FaultOutcome): Promise<void> {
  const file = process.env[TABLE_FILE_VARIABLE];
  if (file) await appendFile(file, `${JSON.stringify(outcome)}\n`);
  assert.deepEqual(outcome.lostTags, [], `${outcome.fault}: 250'd but not delivered`);
  assert.deepEqual(outcome.duplicatedTags, [], `${outcome.fault}: delivered more than once`);
  assert.deepEqual(outcome.unacceptedTags, [], `${outcome.fault}: delivered without a 250`);
}
