// A STAND-IN for pulumi-resource-docker, for the SEMail test rig only: never for a real stack.
// The real provider binary cannot be had on these machines (no registry serves it and its Go
// module cannot be built here), so the rig's engine (testkit/rig/engine.ts) runs this instead,
// installed by testkit/rig/providers/install.ts at the version @pulumi/docker asks for. It serves
// the part of upstream's behaviour SEMail's program uses (Image with skipPush, Network,
// Container), with the docker CLI against a real Docker engine, and refuses anything else
// loudly. Started as a plugin is: `pulumi-resource-docker [flags] ENGINE_ADDRESS`; it prints
// the port it serves on, the one line the engine reads from its stdout.
import { sdkPluginVersion } from "../install.ts";
import { containerKind } from "./container/container.ts";
import { dockerRunner } from "./docker-cli.ts";
import { serveProvider } from "./grpc-server.ts";
import { imageKind } from "./image/image.ts";
import { networkKind } from "./network.ts";

// The engine's address is the last argument; flags (-v=9, --logtostderr, --tracing…) are ignored.
const engineAddress = process.argv
  .slice(2)
  .filter((arg) => !arg.startsWith("-"))
  .pop();
if (engineAddress === undefined) {
  process.stderr.write(
    "usage: pulumi-resource-docker [flags] ENGINE_ADDRESS (a test rig stand-in started by the Pulumi engine)\n",
  );
  process.exit(2);
}

const { port } = await serveProvider({
  version: await sdkPluginVersion("docker"),
  kinds(target) {
    const docker = dockerRunner(target);
    return new Map([
      ["docker:index/image:Image", imageKind(docker)],
      ["docker:index/network:Network", networkKind(docker)],
      ["docker:index/container:Container", containerKind(docker)],
    ]);
  },
});
process.stdout.write(`${port}\n`);
