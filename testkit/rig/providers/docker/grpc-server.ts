// The provider protocol (pulumirpc.ResourceProvider) served with @grpc/grpc-js, registered by
// hand rather than through @pulumi/pulumi/provider's main(), whose Configure drops the
// provider's settings (the Docker host is one). Configure says what upstream's says (it
// supports preview), but takes no secrets, resources or outputs: the engine unwraps those
// and marks the outputs secret again itself. Each resource type is a ResourceKind.
import * as grpc from "@grpc/grpc-js";
import plugproto from "@pulumi/pulumi/proto/plugin_pb.js";
import provrpc from "@pulumi/pulumi/proto/provider_grpc_pb.js";
import provproto from "@pulumi/pulumi/proto/provider_pb.js";
import emptyproto from "google-protobuf/google/protobuf/empty_pb.js";
import { dockerTarget, type DockerTarget } from "./provider-config.ts";
import { notSupported, type CheckContext, type PropertyChange, type ResourceKind } from "./resource-kind.ts";
import { fromStruct, toStruct } from "./wire.ts";

export interface ProviderParts {
  /** The plugin version the SDK asks for (reported by GetPluginInfo). */
  readonly version: string;
  /** The resource types served, by token, for the configured Docker host. */
  kinds(target: DockerTarget): ReadonlyMap<string, ResourceKind>;
}

/** Messages can carry whole uploads and build contexts' digests: as large as the engine's. */
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;

type Callback<T> = (error: grpc.ServiceError | { code: grpc.status; details: string } | null, value?: T) => void;

function answer<T>(callback: Callback<T>, work: () => T | Promise<T>): void {
  Promise.resolve()
    .then(work)
    .then(
      (value) => callback(null, value),
      (err: unknown) =>
        callback({ code: grpc.status.UNKNOWN, details: err instanceof Error ? err.message : String(err) }),
    );
}

/** Type and name from a URN: urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME. */
export function urnParts(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  return { type: (parts[2] ?? "").split("$").pop() ?? "", name: parts.slice(3).join("::") };
}

const KIND_OF_CHANGE: Record<PropertyChange, [plain: number, replace: number]> = {
  add: [provproto.PropertyDiff.Kind.ADD, provproto.PropertyDiff.Kind.ADD_REPLACE],
  delete: [provproto.PropertyDiff.Kind.DELETE, provproto.PropertyDiff.Kind.DELETE_REPLACE],
  update: [provproto.PropertyDiff.Kind.UPDATE, provproto.PropertyDiff.Kind.UPDATE_REPLACE],
};

export function providerService(parts: ProviderParts): grpc.UntypedServiceImplementation {
  let kinds: ReadonlyMap<string, ResourceKind> | undefined;
  const kindOf = (urn: string, type?: string): ResourceKind => {
    const token = type || urnParts(urn).type;
    if (kinds === undefined) throw new Error(`the docker provider was not configured before ${token} was used`);
    const kind = kinds.get(token);
    if (kind === undefined) throw new Error(notSupported(`the resource type ${token}`));
    return kind;
  };
  return {
    getPluginInfo: (_call: unknown, callback: Callback<plugproto.PluginInfo>) =>
      answer(callback, () => new plugproto.PluginInfo().setVersion(parts.version)),
    getSchema: (_call: unknown, callback: Callback<provproto.GetSchemaResponse>) =>
      answer(callback, () =>
        new provproto.GetSchemaResponse().setSchema(JSON.stringify({ name: "docker", version: parts.version })),
      ),
    attach: (_call: unknown, callback: Callback<emptyproto.Empty>) => answer(callback, () => new emptyproto.Empty()),
    cancel: (_call: unknown, callback: Callback<emptyproto.Empty>) => answer(callback, () => new emptyproto.Empty()),
    checkConfig: (
      call: grpc.ServerUnaryCall<provproto.CheckRequest, unknown>,
      callback: Callback<provproto.CheckResponse>,
    ) => answer(callback, () => new provproto.CheckResponse().setInputs(call.request.getNews())),
    configure: (
      call: grpc.ServerUnaryCall<provproto.ConfigureRequest, unknown>,
      callback: Callback<provproto.ConfigureResponse>,
    ) =>
      answer(callback, () => {
        kinds = parts.kinds(dockerTarget(new Map(call.request.getVariablesMap().toArray())));
        return new provproto.ConfigureResponse()
          .setSupportspreview(true)
          .setAcceptsecrets(false)
          .setAcceptresources(false)
          .setAcceptoutputs(false);
      }),
    invoke: (
      call: grpc.ServerUnaryCall<provproto.InvokeRequest, unknown>,
      callback: Callback<provproto.InvokeResponse>,
    ) =>
      answer(callback, () => {
        throw new Error(notSupported(`the function ${call.request.getTok()}`));
      }),
    check: (call: grpc.ServerUnaryCall<provproto.CheckRequest, unknown>, callback: Callback<provproto.CheckResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const context: CheckContext = {
          name: req.getName() || urnParts(req.getUrn()).name,
          seed: req.getRandomseed_asU8(),
        };
        const result = await kindOf(req.getUrn(), req.getType()).check(
          fromStruct(req.getOlds()),
          fromStruct(req.getNews()),
          context,
        );
        const failures = result.failures.map((f) =>
          new provproto.CheckFailure().setProperty(f.property).setReason(f.reason),
        );
        return new provproto.CheckResponse().setInputs(toStruct(result.inputs)).setFailuresList(failures);
      }),
    diff: (call: grpc.ServerUnaryCall<provproto.DiffRequest, unknown>, callback: Callback<provproto.DiffResponse>) =>
      answer(callback, () => {
        const req = call.request;
        const result = kindOf(req.getUrn(), req.getType()).diff(fromStruct(req.getOlds()), fromStruct(req.getNews()));
        const keys = Object.keys(result.changes);
        const resp = new provproto.DiffResponse();
        if (keys.length === 0) return resp.setChanges(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        resp
          .setChanges(provproto.DiffResponse.DiffChanges.DIFF_SOME)
          .setDiffsList(keys)
          .setReplacesList([...result.replaces]);
        resp.setDeletebeforereplace(result.replaces.length > 0 && result.deleteBeforeReplace).setHasdetaileddiff(true);
        for (const [key, change] of Object.entries(result.changes)) {
          const [plain, replace] = KIND_OF_CHANGE[change];
          resp
            .getDetaileddiffMap()
            .set(
              key,
              new provproto.PropertyDiff().setKind(result.replaces.includes(key) ? replace : plain).setInputdiff(true),
            );
        }
        return resp;
      }),
    create: (
      call: grpc.ServerUnaryCall<provproto.CreateRequest, unknown>,
      callback: Callback<provproto.CreateResponse>,
    ) =>
      answer(callback, async () => {
        const req = call.request;
        const { id, outputs } = await kindOf(req.getUrn(), req.getType()).create(
          fromStruct(req.getProperties()),
          req.getPreview(),
        );
        return new provproto.CreateResponse().setId(id).setProperties(toStruct(outputs));
      }),
    read: (call: grpc.ServerUnaryCall<provproto.ReadRequest, unknown>, callback: Callback<provproto.ReadResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const outputs = await kindOf(req.getUrn(), req.getType()).read(
          req.getId(),
          fromStruct(req.getProperties()),
          fromStruct(req.getInputs()),
        );
        // No ID: the resource is gone, and the engine drops it from the state.
        if (outputs === undefined) return new provproto.ReadResponse().setId("");
        return new provproto.ReadResponse()
          .setId(req.getId())
          .setProperties(toStruct(outputs))
          .setInputs(req.getInputs());
      }),
    update: (
      call: grpc.ServerUnaryCall<provproto.UpdateRequest, unknown>,
      callback: Callback<provproto.UpdateResponse>,
    ) =>
      answer(callback, async () => {
        const req = call.request;
        const kind = kindOf(req.getUrn(), req.getType());
        const outputs = await kind.update(
          req.getId(),
          fromStruct(req.getOlds()),
          fromStruct(req.getNews()),
          req.getPreview(),
        );
        return new provproto.UpdateResponse().setProperties(toStruct(outputs));
      }),
    delete: (call: grpc.ServerUnaryCall<provproto.DeleteRequest, unknown>, callback: Callback<emptyproto.Empty>) =>
      answer(callback, async () => {
        const req = call.request;
        await kindOf(req.getUrn(), req.getType()).delete(req.getId(), fromStruct(req.getProperties()));
        return new emptyproto.Empty();
      }),
  };
}

/** Serves the provider on a loopback port of the system's choice; resolves with the port. */
export async function serveProvider(parts: ProviderParts): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  server.addService(provrpc.ResourceProviderService, providerService(parts));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  return { port, server };
}
