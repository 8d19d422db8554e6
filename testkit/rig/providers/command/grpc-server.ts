// The provider protocol, served with grpc-js and the protocol's own generated code from
// @pulumi/pulumi. Not `main()` from "@pulumi/pulumi/provider": that server cannot say it
// supports previews or pass `preview` to create/update, and upstream's outputs (stdout)
// must be unknown in a preview rather than missing.
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import emptyPb from "google-protobuf/google/protobuf/empty_pb.js";
import structPb from "google-protobuf/google/protobuf/struct_pb.js";
import pluginPb from "@pulumi/pulumi/proto/plugin_pb.js";
import providerGrpc from "@pulumi/pulumi/proto/provider_grpc_pb.js";
import providerPb from "@pulumi/pulumi/proto/provider_pb.js";
import { copyToRemote, COPY_TYPE } from "./copy-to-remote.ts";
import { remoteCommand, COMMAND_TYPE } from "./remote-command.ts";
import { notSupported, type PropertyChange, type ResourceKind } from "./resource-kind.ts";
import type { Props } from "./wire-values.ts";

const KINDS: Readonly<Record<string, ResourceKind>> = { [COMMAND_TYPE]: remoteCommand, [COPY_TYPE]: copyToRemote };

/** The resource type: the request's, else the last part of the URN's type path. */
function resourceType(request: { getType(): string; getUrn(): string }): string {
  return request.getType() || (request.getUrn().split("::")[2]?.split("$").pop() ?? "");
}

/** The resource's name: the request's, else the URN's last part. */
function resourceName(request: { getName(): string; getUrn(): string }): string {
  return request.getName() || (request.getUrn().split("::")[3] ?? "");
}

function kindOf(type: string): ResourceKind {
  const kind = KINDS[type];
  if (kind === undefined) throw new Error(notSupported(`the resource type "${type}"`));
  return kind;
}

function props(struct: structPb.Struct | undefined): Props {
  return (struct?.toJavaScript() ?? {}) as Props;
}

function struct(value: Props): structPb.Struct {
  // JSON drops undefined, which Struct cannot hold.
  return structPb.Struct.fromJavaScript(JSON.parse(JSON.stringify(value)) as Record<string, structPb.JavaScriptValue>);
}

const DIFF_KIND: Record<PropertyChange, [providerPb.PropertyDiff.Kind, providerPb.PropertyDiff.Kind]> = {
  add: [providerPb.PropertyDiff.Kind.ADD, providerPb.PropertyDiff.Kind.ADD_REPLACE],
  delete: [providerPb.PropertyDiff.Kind.DELETE, providerPb.PropertyDiff.Kind.DELETE_REPLACE],
  update: [providerPb.PropertyDiff.Kind.UPDATE, providerPb.PropertyDiff.Kind.UPDATE_REPLACE],
};

/** A unary handler whose failure reaches the engine as the error's message. */
function unary<Req, Res>(handle: (request: Req) => Res | Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => handle(call.request))
      .then(
        (response) => callback(null, response),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          callback({ code: status.UNKNOWN, details: message, name: "Error", message });
        },
      );
  };
}

function handlers(version: string): UntypedServiceImplementation {
  const cancelled = new AbortController();
  return {
    getPluginInfo: unary(() => new pluginPb.PluginInfo().setVersion(version)),
    getSchema: unary(() => new providerPb.GetSchemaResponse().setSchema("{}")),
    checkConfig: unary((request: providerPb.CheckRequest) => {
      const config = Object.keys(props(request.getNews())).filter((k) => k !== "version" && !k.startsWith("__"));
      if (config.length > 0) throw new Error(notSupported(`provider configuration (${config.join(", ")})`));
      return new providerPb.CheckResponse().setInputs(request.getNews());
    }),
    diffConfig: unary(() => new providerPb.DiffResponse().setChanges(providerPb.DiffResponse.DiffChanges.DIFF_NONE)),
    configure: unary(() =>
      new providerPb.ConfigureResponse()
        .setAcceptsecrets(true)
        .setSupportspreview(true)
        .setAcceptresources(false)
        .setAcceptoutputs(false),
    ),
    check: unary((request: providerPb.CheckRequest) => {
      const result = kindOf(resourceType(request)).check(props(request.getNews()));
      return new providerPb.CheckResponse()
        .setInputs(struct(result.inputs))
        .setFailuresList(
          result.failures.map((f) => new providerPb.CheckFailure().setProperty(f.property).setReason(f.reason)),
        );
    }),
    diff: unary((request: providerPb.DiffRequest) => {
      // Old inputs as the engine sends them, else from the state (outputs mirror the inputs).
      const kind = kindOf(resourceType(request));
      const fromState = Object.entries(props(request.getOlds())).filter(([name]) => !kind.outputsOnly.includes(name));
      const oldInputs = request.getOldInputs() ? props(request.getOldInputs()) : Object.fromEntries(fromState);
      const result = kind.diff(oldInputs, props(request.getNews()));
      const response = new providerPb.DiffResponse()
        .setChanges(
          result.changed
            ? providerPb.DiffResponse.DiffChanges.DIFF_SOME
            : providerPb.DiffResponse.DiffChanges.DIFF_NONE,
        )
        .setReplacesList([...result.replaces])
        .setDiffsList(Object.keys(result.changes))
        .setDeletebeforereplace(false)
        .setHasdetaileddiff(true);
      for (const [name, change] of Object.entries(result.changes)) {
        const kind = DIFF_KIND[change][result.replaces.includes(name) ? 1 : 0];
        response.getDetaileddiffMap().set(name, new providerPb.PropertyDiff().setKind(kind).setInputdiff(true));
      }
      return response;
    }),
    create: unary(async (request: providerPb.CreateRequest) => {
      const op = { preview: request.getPreview(), name: resourceName(request), signal: cancelled.signal };
      const { id, outputs } = await kindOf(resourceType(request)).create(props(request.getProperties()), op);
      return new providerPb.CreateResponse().setId(id).setProperties(struct(outputs));
    }),
    // Upstream cannot read a command back: the state stands as it is, so refresh sees no drift.
    read: unary((request: providerPb.ReadRequest) => {
      kindOf(resourceType(request));
      const response = new providerPb.ReadResponse().setId(request.getId()).setProperties(request.getProperties());
      const inputs = request.getInputs();
      return inputs ? response.setInputs(inputs) : response;
    }),
    update: unary(async (request: providerPb.UpdateRequest) => {
      const op = { preview: request.getPreview(), name: resourceName(request), signal: cancelled.signal };
      const outputs = await kindOf(resourceType(request)).update(
        props(request.getOlds()),
        props(request.getNews()),
        op,
      );
      return new providerPb.UpdateResponse().setProperties(struct(outputs));
    }),
    delete: unary(async (request: providerPb.DeleteRequest) => {
      await kindOf(resourceType(request)).delete(props(request.getProperties()), {
        name: resourceName(request),
        signal: cancelled.signal,
      });
      return new emptyPb.Empty();
    }),
    invoke: unary((request: providerPb.InvokeRequest) => {
      throw new Error(notSupported(`the function "${request.getTok()}"`));
    }),
    call: unary((request: providerPb.CallRequest) => {
      throw new Error(notSupported(`the method "${request.getTok()}"`));
    }),
    construct: unary((request: providerPb.ConstructRequest) => {
      throw new Error(notSupported(`the component "${request.getType()}"`));
    }),
    // The engine cancels (Ctrl-C): running ssh processes are killed, retries stop.
    cancel: unary(() => {
      cancelled.abort(new Error("cancelled by the engine"));
      return new emptyPb.Empty();
    }),
    attach: unary(() => new emptyPb.Empty()),
  };
}

/** Starts the provider on a loopback port and tells the engine which (its first stdout line). */
export async function serveProvider(version: string): Promise<Server> {
  const server = new Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(providerGrpc.ResourceProviderService, handlers(version));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  process.stdout.write(`${port}\n`);
  return server;
}
