// The `docker run` flags that make a container behave like a small VM on this machine
// (see /work/shared/research/docker-on-these-machines.md): every capability the machine
// grants (not --privileged: CAP_SYS_RESOURCE is withheld, and --privileged asks for it),
// loop devices, a writable /proc/sys, and the cgroup view systemd needs to be PID 1.
//
// Cgroups (v1 here): systemd must find its own cgroup (/docker/<id>) in each hierarchy, so
// the namespace is the host's and the machine's hierarchies are bound in, one by one, on a
// tmpfs of the container's own. Never the machine's /sys/fs/cgroup tmpfs itself: systemd
// makes directories in it and remounts it read-only at boot, which changes the machine's
// (seen here). A controller the machine has not mounted gets an empty read-only tmpfs at the
// path systemd would mount it on: it then skips it, instead of making a new hierarchy in
// the kernel that outlives the container.

const CAPABILITIES = [
  "SYS_ADMIN",
  "NET_ADMIN",
  "SYS_MODULE",
  "SYS_PTRACE",
  "MKNOD",
  "NET_RAW",
  "SYS_CHROOT",
  "SETUID",
  "SETGID",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "KILL",
  "AUDIT_WRITE",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "FSETID",
  "IPC_LOCK",
  "DAC_READ_SEARCH",
  "LINUX_IMMUTABLE",
  "SYS_RAWIO",
  "SYS_NICE",
  "SYS_TIME",
] as const;

/** Controllers systemd mounts together on cgroup v1, as one hierarchy named "a,b". */
const JOINED = [
  ["cpu", "cpuacct"],
  ["net_cls", "net_prio"],
] as const;

export interface CgroupLayout {
  /** The machine's hierarchies under /sys/fs/cgroup (directory names), bound in read-write. */
  readonly hierarchies: readonly string[];
  /** Where systemd would mount a hierarchy of its own: shadowed by an empty read-only tmpfs. */
  readonly shadowed: readonly string[];
}

/**
 * The machine's cgroup layout from /proc/self/mountinfo and /proc/cgroups, or an error that
 * says why the rig cannot run systemd on it.
 */
export function cgroupLayout(mountinfo: string, procCgroups: string): CgroupLayout {
  const mounts = mountinfo
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [left = "", right = ""] = line.split(" - ");
      const [type = "", , superOptions = ""] = right.split(" ");
      return { point: left.split(" ")[4] ?? "", type, options: superOptions.split(",") };
    });
  const top = mounts.findLast((m) => m.point === "/sys/fs/cgroup");
  if (top?.type === "cgroup2")
    throw new Error(
      "this machine has cgroup v2 only (/sys/fs/cgroup is cgroup2): the rig's flags are made for cgroup v1 and were never tried on v2",
    );
  const below = mounts.filter(
    (m) => /^\/sys\/fs\/cgroup\/[^/]+$/.test(m.point) && (m.type === "cgroup" || m.type === "cgroup2"),
  );
  const name = (m: { point: string }) => m.point.slice("/sys/fs/cgroup/".length);
  if (!below.some((m) => m.type === "cgroup" && m.options.includes("name=systemd"))) {
    throw new Error(
      "this machine has no name=systemd cgroup hierarchy at /sys/fs/cgroup/systemd: systemd in the rig would make one in the kernel, shared with the whole machine; mount it first (mkdir /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd)",
    );
  }
  const mounted = new Set(below.filter((m) => m.type === "cgroup").flatMap((m) => m.options));
  const enabled = procCgroups
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/\s+/))
    .filter((f) => f[3] === "1")
    .map((f) => f[0]!);
  const groups = new Map<string, string[]>();
  for (const controller of enabled) {
    const joined = JOINED.find((pair) => (pair as readonly string[]).includes(controller));
    const key = joined ? joined.join(",") : controller;
    groups.set(key, [...(groups.get(key) ?? []), controller]);
  }
  const shadowed = [...groups].filter(([, members]) => members.every((c) => !mounted.has(c))).map(([key]) => key);
  return { hierarchies: below.map(name), shadowed };
}

export interface VmFlagsArgs {
  readonly cgroups: CgroupLayout;
  /** Host directory the inner dockerd keeps its data in (overlay2 needs a real filesystem). */
  readonly dockerDataDir: string;
}

/** Flags for `docker run` (before the image) that make a VM-like container. */
export function vmLikeRunFlags(args: VmFlagsArgs): string[] {
  return [
    ...CAPABILITIES.flatMap((c) => ["--cap-add", c]),
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    // /proc/sys writable, as in a VM: users-firewall.sh sets net.bridge.* (per network namespace).
    "--security-opt",
    "systempaths=unconfined",
    "--cgroupns=host",
    "--tmpfs",
    "/sys/fs/cgroup:rw,nosuid,nodev,noexec,mode=755",
    ...args.cgroups.hierarchies.flatMap((h) => ["-v", `/sys/fs/cgroup/${h}:/sys/fs/cgroup/${h}:rw`]),
    ...args.cgroups.shadowed.flatMap((h) => ["--tmpfs", `/sys/fs/cgroup/${h}:ro,size=4k`]),
    // What systemd expects to find mounted; the rest it mounts itself.
    "--tmpfs",
    "/run:rw,nosuid,nodev,exec,mode=755",
    "--tmpfs",
    "/run/lock:rw,nosuid,nodev,noexec",
    // Loop devices: the nodes are made inside (semail-rig-loop-nodes.service).
    "--device",
    "/dev/loop-control",
    "--device-cgroup-rule",
    "b 7:* rmw",
    "-v",
    `${args.dockerDataDir}:/var/lib/docker`,
  ];
}
