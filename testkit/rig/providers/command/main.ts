// A STAND-IN for pulumi-resource-command (pulumi-command v1.2.1), for the SEMail test rig only:
// never for a real stack. The real provider binary cannot be had on these machines (no
// registry they reach serves it), so testkit/rig/providers/install.ts installs this file as the
// plugin, and the real Pulumi engine drives it like the real one. It serves what SEMail's
// program uses, command:remote:Command and command:remote:CopyToRemote, over the real OpenSSH
// client, following upstream's documented behaviour (diffs, previews, secrets, errors);
// anything else fails loudly. Where it differs from upstream is said beside the code.
//
// Started by the engine like any plugin: `pulumi-resource-command <engine address> [flags]`;
// it prints the port of its gRPC server and serves until the engine ends it.
import { sdkPluginVersion } from "../install.ts";
import { serveProvider } from "./grpc-server.ts";

await serveProvider(await sdkPluginVersion("command"));
