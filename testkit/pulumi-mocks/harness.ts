// Runs Pulumi programs under the mocks and records every resource with its inputs and
// options. Each `record` call starts a fresh mock monitor, so one test file can run the
// stack several times (0, 1, 3 users; add; remove).
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";

/** Pulumi's marker for a secret value in serialized inputs. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** Inputs as the provider would get them (secrets still wrapped; see `reveal`). */
  readonly inputs: Record<string, unknown>;
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly deleteBeforeReplace: boolean;
  readonly parent: string;
  readonly dependencies: readonly string[];
}

type Monitor = { registerResource(req: RegisterRequest, cb: unknown): unknown };
type RegisterRequest = {
  getType(): string;
  getName(): string;
  getProtect(): boolean;
  getRetainondelete(): boolean;
  getDeletebeforereplace(): boolean;
  getParent(): string;
  getDependenciesList(): string[];
};
const runtime = pulumi.runtime as unknown as { getMonitor(): Monitor; waitForRPCs(): Promise<void> };

/** Mock outputs that providers would compute. */
function computed(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (type === "docker:index/image:Image") return { ...inputs, repoDigest: `sha256:${"a".repeat(64)}` };
  if (type === "docker:index/container:Container")
    return { ...inputs, networkDatas: [{ ipAddress: "172.30.0.2", networkName: "semail-users" }] };
  if (type === "command:remote:Command") return { ...inputs, stdout: "", stderr: "" };
  return inputs;
}

/**
 * Sets up fresh mocks with `config` (keys like "semail:vmIp"; `secretKeys` marked
 * secret), runs `program`, waits for every registration, and returns what it made.
 */
export async function record<T>(
  config: Record<string, string>,
  secretKeys: readonly string[],
  program: () => T | Promise<T>,
): Promise<{ resources: Recorded[]; result: T }> {
  const byName = new Map<string, Omit<Recorded, "inputs" | "urn">>();
  const resources: Recorded[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const options = byName.get(`${args.type}::${args.name}`);
        const urn = `urn:pulumi:test::semail::${args.type}::${args.name}`;
        resources.push({
          ...(options ?? {
            type: args.type,
            name: args.name,
            protect: false,
            retainOnDelete: false,
            deleteBeforeReplace: false,
            parent: "",
            dependencies: [],
          }),
          urn,
          inputs: args.inputs as Record<string, unknown>,
        });
        return { id: `${args.name}-id`, state: computed(args.type, args.inputs as Record<string, unknown>) };
      },
      // The program invokes no provider function; one that starts to must be mocked on purpose.
      call(args) {
        throw new Error(`unexpected invoke ${args.token}: add a mock for it in testkit/pulumi-mocks/harness.ts`);
      },
    },
    "semail",
    "test",
    false,
  );
  // The mock API hides resource options; read them off the register request.
  const monitor = runtime.getMonitor();
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    byName.set(`${req.getType()}::${req.getName()}`, {
      type: req.getType(),
      name: req.getName(),
      protect: req.getProtect(),
      retainOnDelete: req.getRetainondelete(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
    });
    return register(req, cb);
  };
  pulumi.runtime.setAllConfig(config, secretKeys.length > 0 ? [...secretKeys] : undefined);
  const result = await program();
  await runtime.waitForRPCs();
  return { resources, result };
}

/** The value with every secret wrapper replaced by its content. */
export function reveal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (v[SIG_KEY] === SECRET_SIG) return reveal(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  }
  return value;
}

/** Paths (a.b[0]) where `needle` appears in plain text, outside any secret wrapper. */
export function plainOccurrences(value: unknown, needle: string, path = ""): string[] {
  if (typeof value === "string") return value.includes(needle) ? [path || "(value)"] : [];
  if (Array.isArray(value)) return value.flatMap((x, i) => plainOccurrences(x, needle, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (v[SIG_KEY] === SECRET_SIG) return [];
    return Object.entries(v).flatMap(([k, x]) => plainOccurrences(x, needle, path ? `${path}.${k}` : k));
  }
  return [];
}

/** Resolves an Output (or plain value) to its value and secrecy. */
export async function settle<T>(value: pulumi.Input<T>): Promise<{ value: T; secret: boolean }> {
  const out = pulumi.output(value);
  const secret = await pulumi.isSecret(out);
  const plain = await new Promise<T>((resolve) =>
    out.apply((v) => {
      resolve(v as T);
      return v;
    }),
  );
  return { value: plain, secret };
}

/** A resource's inputs, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: assertions read any input shape; a wrong one fails the assert.
export type Inputs = Record<string, any>;

/** The recorded resource named `name`; fails listing what there is. */
export function findResource(resources: readonly Recorded[], name: string): Recorded {
  const r = resources.find((x) => x.name === name);
  assert.ok(r, `expected a resource named ${name}; have ${resources.map((x) => x.name).join(", ")}`);
  return r;
}

/** The inputs of the resource named `name`, secrets revealed. */
export function inputsOf(resources: readonly Recorded[], name: string): Inputs {
  return reveal(findResource(resources, name).inputs) as Inputs;
}
