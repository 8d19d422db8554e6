// Mailing lists in the test slapd: groups written and changed as its directory manager, as an
// operator would with ldapadd/ldapmodify.
import { Attribute, Change, Client } from "ldapts";
import { TEST_ADMIN_PASSWORD, type TestSlapd } from "../../../helpers/slapd.ts";

export interface TestList {
  readonly cn: string;
  readonly mail: string;
  /** uids under ou=people. */
  readonly members: readonly string[];
  readonly owners?: readonly string[];
  /** businessCategory, e.g. "post: anyone". */
  readonly post?: string;
}

/** Runs `work` bound as the directory manager; always unbinds. */
export async function asManager<T>(slapd: TestSlapd, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: slapd.url, timeout: 5000, connectTimeout: 5000 });
  try {
    await client.bind(slapd.adminDn, TEST_ADMIN_PASSWORD);
    return await work(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

export const personDn = (slapd: TestSlapd, uid: string) => `uid=${uid},ou=people,${slapd.baseDn}`;
export const groupDn = (slapd: TestSlapd, cn: string) => `cn=${cn},ou=groups,${slapd.baseDn}`;

/** groupOfNames + extensibleObject (for `mail`): the schema directory/groups.ts reads. */
export async function addList(slapd: TestSlapd, list: TestList): Promise<void> {
  await asManager(slapd, (client) =>
    client.add(groupDn(slapd, list.cn), {
      objectClass: ["groupOfNames", "extensibleObject"],
      cn: list.cn,
      mail: list.mail,
      member: list.members.map((uid) => personDn(slapd, uid)),
      ...(list.owners ? { owner: list.owners.map((uid) => personDn(slapd, uid)) } : {}),
      ...(list.post ? { businessCategory: list.post } : {}),
    }),
  );
}

/** Adds and removes members in one modify. */
export async function changeMembers(
  slapd: TestSlapd,
  cn: string,
  change: { add?: readonly string[]; remove?: readonly string[] },
): Promise<void> {
  const changes = [
    ...(change.add?.length
      ? [
          new Change({
            operation: "add",
            modification: new Attribute({ type: "member", values: change.add.map((u) => personDn(slapd, u)) }),
          }),
        ]
      : []),
    ...(change.remove?.length
      ? [
          new Change({
            operation: "delete",
            modification: new Attribute({ type: "member", values: change.remove.map((u) => personDn(slapd, u)) }),
          }),
        ]
      : []),
  ];
  await asManager(slapd, (client) => client.modify(groupDn(slapd, cn), changes));
}
