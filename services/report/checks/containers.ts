// The containers this host should run: each of its live mailboxes' user container and the daemons'
// (report.containers), each present, running and, with a HEALTHCHECK, healthy. Asked of the
// Docker engine at report.dockerSocket; without one, containers are not this host's business.
import { mailboxesHere } from "../../../config/mailboxes-here.ts";
import type { Settings } from "../../../config/settings.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { fail, ok, warn, type Finding } from "../check.ts";
import { inspectContainer } from "./docker-inspect.ts";

export async function containerFindings(settings: Settings, users: UsersList): Promise<Finding[]> {
  const socket = settings.report.dockerSocket;
  if (socket === undefined)
    return [ok("containers", "Docker", "not applicable: no Docker engine is set (report.dockerSocket)")];
  // Only this host's mailboxes have their containers here.
  const owners = [...new Set(mailboxesHere(users, settings.hostName).mailboxes.map((m) => m.owner))];
  const expected: Array<[string, string]> = [
    ...settings.report.containers.map((name): [string, string] => [name, "deploy again (`semail deploy up`)"]),
    ...owners.map((owner): [string, string] => [
      settings.report.userContainer.replaceAll("{owner}", owner),
      "apply the users list again (a stack update, or `semail start`'s applier), which makes it",
    ]),
  ];
  const findings: Finding[] = [];
  for (const [name, make] of expected) {
    let state: Awaited<ReturnType<typeof inspectContainer>>;
    try {
      state = await inspectContainer(socket, name);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      // The engine itself is down: one finding says so, not one per container.
      return [
        fail(
          "containers",
          `Docker at ${socket}`,
          `does not answer: ${why}`,
          "start Docker (`systemctl start docker`) or correct report.dockerSocket",
        ),
      ];
    }
    const subject = `container ${name}`;
    const logs = `\`docker logs --tail 50 ${name}\``;
    if (state === undefined) findings.push(fail("containers", subject, "does not exist", make));
    else if (state.status !== "running")
      findings.push(
        fail("containers", subject, `is ${state.status}`, `\`docker start ${name}\`; why it stopped: ${logs}`),
      );
    else if (state.health === "unhealthy")
      findings.push(
        fail(
          "containers",
          subject,
          `is unhealthy${state.lastCheck ? `: ${state.lastCheck}` : ""}`,
          `read ${logs}, then \`docker restart ${name}\``,
        ),
      );
    else if (state.health === "starting")
      findings.push(
        warn(
          "containers",
          subject,
          "is starting (its health check has not passed yet)",
          `run the report again; if it stays, read ${logs}`,
        ),
      );
    else findings.push(ok("containers", subject, state.health === "healthy" ? "running, healthy" : "running"));
  }
  return findings;
}
