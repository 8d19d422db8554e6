// Run inside a test host (ip netns exec): one SMTP connection to HOST PORT, printing as JSON
// the greeting's code, or the AUTH reply's with `auth USER PASSWORD`, or the connect error.
//   node netns-smtp-client.ts HOST PORT [auth USER PASSWORD]
import { plain } from "../../mailservers/outbound/daemon-fixture.ts";
import { SmtpClient } from "../../helpers/smtp.ts";

const [host = "", port = "", mode, user = "", password = ""] = process.argv.slice(2);
let outcome: { greeting?: number; auth?: number; error?: string };
try {
  const client = await SmtpClient.connect(Number(port), { host, timeoutMs: 5_000 });
  outcome = { greeting: client.greeting?.code ?? 0 };
  if (mode === "auth" && outcome.greeting === 220) {
    await client.command("EHLO test-host.test");
    outcome.auth = (await client.command(`AUTH PLAIN ${plain(user, password)}`)).code;
  }
  client.close();
} catch (err) {
  outcome = { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
}
process.stdout.write(`${JSON.stringify(outcome)}\n`);
