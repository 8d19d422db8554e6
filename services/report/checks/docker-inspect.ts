// One container's state from the Docker Engine API over its unix socket (GET
// /containers/NAME/json), without the docker CLI: the report may run where only the socket is.
import http from "node:http";

/** What the report needs of `docker inspect`; undefined from inspectContainer when there is no such container. */
export interface ContainerState {
  /** "running", "exited", "created", "paused", "restarting", "dead". */
  readonly status: string;
  /** "healthy", "unhealthy", "starting"; undefined without a HEALTHCHECK. */
  readonly health?: string;
  /** The last health check's output, trimmed. */
  readonly lastCheck?: string;
}

interface InspectBody {
  State: { Status: string; Health?: { Status: string; Log?: Array<{ Output?: string }> } };
}

/** `socket` is a path or unix:///path (DOCKER_HOST's form). */
export async function inspectContainer(
  socket: string,
  name: string,
  timeoutMs = 5000,
): Promise<ContainerState | undefined> {
  const socketPath = socket.replace(/^unix:\/\//, "");
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.get(
      { socketPath, path: `/containers/${encodeURIComponent(name)}/json`, timeout: timeoutMs },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    request.on("error", reject);
  });
  if (status === 404) return undefined;
  if (status !== 200) throw new Error(`the engine answered ${status}: ${body.trim().slice(0, 200)}`);
  const state = (JSON.parse(body) as InspectBody).State;
  const last = state.Health?.Log?.at(-1)?.Output?.trim();
  return {
    status: state.Status,
    ...(state.Health ? { health: state.Health.Status } : {}),
    ...(last ? { lastCheck: last } : {}),
  };
}
