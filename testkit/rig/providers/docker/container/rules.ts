// The Container inputs the stand-in takes, with upstream's diff rules (Terraform's
// docker_container schema, kreuzwerker v4.5.0, resource_docker_container.go): nearly all are
// ForceNew (a change replaces the container); restart, maxRetryCount, mustRun, start, rm,
// removeVolumes and destroyGraceSeconds update in place. Anything else fails loudly in Check.
import { LABELS, type FieldRule, type FieldRules } from "../rules/field-rules.ts";
import { isObject } from "../wire.ts";

function portKey(port: unknown): { internal: unknown; external: unknown; ip: unknown; protocol: unknown } {
  const p = isObject(port) ? port : {};
  // Upstream's StateFunc turns an empty ip into 0.0.0.0; its Defaults fill the rest.
  return { internal: p.internal, external: p.external ?? null, ip: p.ip || "0.0.0.0", protocol: p.protocol || "tcp" };
}

/**
 * Upstream's DiffSuppressFunc for ports: the same ports in any order; an external port the
 * program leaves unset is Docker's choice and matches what was read.
 */
export function samePorts(old: unknown, now: unknown): boolean {
  const olds = (Array.isArray(old) ? old : []).map(portKey);
  const news = (Array.isArray(now) ? now : []).map(portKey);
  if (olds.length !== news.length) return false;
  const left = [...olds];
  for (const n of news) {
    const i = left.findIndex(
      (o) =>
        o.internal === n.internal &&
        o.ip === n.ip &&
        o.protocol === n.protocol &&
        (n.external === null || o.external === n.external),
    );
    if (i < 0) return false;
    left.splice(i, 1);
  }
  return true;
}

const PORTS: FieldRule = {
  shape: "objectList",
  forceNew: true,
  fields: {
    internal: { shape: "int" },
    external: { shape: "int" },
    ip: { shape: "string" },
    protocol: { shape: "string" },
  },
  same: samePorts,
};

export const CONTAINER_RULES: FieldRules = {
  name: { shape: "string", forceNew: true },
  image: { shape: "string", forceNew: true },
  hostname: { shape: "string", forceNew: true, computed: true },
  command: { shape: "stringList", forceNew: true, computed: true },
  envs: { shape: "stringSet", forceNew: true, computed: true },
  labels: { ...LABELS, computed: true },
  networkMode: { shape: "string", forceNew: true, default: "bridge" },
  capabilities: {
    shape: "object",
    forceNew: true,
    fields: { adds: { shape: "stringSet" }, drops: { shape: "stringSet" } },
  },
  sysctls: { shape: "stringMap", forceNew: true },
  ulimits: {
    shape: "objectSet",
    forceNew: true,
    fields: { name: { shape: "string" }, soft: { shape: "int" }, hard: { shape: "int" } },
  },
  mounts: {
    shape: "objectSet",
    forceNew: true,
    fields: {
      type: { shape: "string" },
      source: { shape: "string" },
      target: { shape: "string" },
      readOnly: { shape: "bool" },
      bindOptions: { shape: "object", fields: { propagation: { shape: "string" } } },
    },
  },
  volumes: {
    shape: "objectSet",
    forceNew: true,
    fields: {
      hostPath: { shape: "string" },
      volumeName: { shape: "string" },
      containerPath: { shape: "string" },
      readOnly: { shape: "bool" },
    },
  },
  ports: PORTS,
  networksAdvanced: {
    shape: "objectSet",
    forceNew: true,
    fields: {
      name: { shape: "string" },
      aliases: { shape: "stringSet" },
      ipv4Address: { shape: "string" },
      ipv6Address: { shape: "string" },
    },
  },
  uploads: {
    shape: "objectSet",
    forceNew: true,
    fields: {
      file: { shape: "string" },
      content: { shape: "string" },
      contentBase64: { shape: "string" },
      source: { shape: "string" },
      sourceHash: { shape: "string" },
      executable: { shape: "bool" },
      permissions: { shape: "string" },
    },
  },
  restart: { shape: "string", default: "no" },
  maxRetryCount: { shape: "int" },
  mustRun: { shape: "bool", default: true },
  start: { shape: "bool", default: true },
  rm: { shape: "bool", default: false },
  removeVolumes: { shape: "bool", default: true },
  destroyGraceSeconds: { shape: "int" },
};
