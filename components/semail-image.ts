// One of SEMail's images (assets/images/<role>), built on the VM's Docker from this
// repository FROM the stack's base image, unless a stack setting names an image to use.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

export type ImageRole = "daemons" | "directory" | "user" | "apt-proxy" | "imap" | "webmail";

export interface SemailImageArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  readonly role: ImageRole;
  /** The repository root. */
  readonly projectDir: string;
  /** The `BASE` build argument every Dockerfile starts FROM. */
  readonly base: string;
  /** An image reference to use instead of building (the stack setting); "" builds. */
  readonly override: string;
}

/** The folder of `role`'s Dockerfile, relative to the repository root. */
export function imageDir(role: ImageRole): string {
  return `assets/images/${role}`;
}

/** What `docker build` is given: the daemons bundle the whole checkout; the others only their folder (as assets/images/build.sh does). */
export function buildContext(role: ImageRole, projectDir: string): string {
  return role === "daemons" ? projectDir : `${projectDir}/${imageDir(role)}`;
}

export class SemailImage extends pulumi.ComponentResource {
  /** What a container's `image` takes: the built image's digest (a rebuild replaces the container), or the override. */
  readonly ref: pulumi.Output<string>;

  constructor(name: string, args: SemailImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:SemailImage", name, {}, opts);
    if (args.override !== "") {
      this.ref = pulumi.output(args.override);
    } else {
      const image = new docker.Image(
        `${name}-build`,
        {
          imageName: `semail-${args.role}:latest`,
          build: {
            context: buildContext(args.role, args.projectDir),
            dockerfile: `${args.projectDir}/${imageDir(args.role)}/Dockerfile`,
            args: { BASE: args.base },
            platform: "linux/amd64",
          },
          skipPush: true,
        },
        { parent: this, provider: args.docker },
      );
      this.ref = image.repoDigest;
    }
    this.registerOutputs({ ref: this.ref });
  }
}
