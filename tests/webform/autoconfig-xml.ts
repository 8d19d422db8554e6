// Mozilla autoconfig documents read by a real XML parser (Python's xml.etree), as a mail
// program reads them: the provider's domains and each server's settings.
import { execFile } from "node:child_process";

export interface AutoconfigServer {
  readonly type: string;
  readonly hostname: string;
  readonly port: number;
  readonly socketType: string;
  readonly authentication: string;
  readonly username: string;
}

export interface Autoconfig {
  readonly provider: string;
  readonly domains: readonly string[];
  readonly incoming: readonly AutoconfigServer[];
  readonly outgoing: readonly AutoconfigServer[];
}

const PARSE = `
import json, sys
import xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
provider = root.find("emailProvider")
def server(e):
    return {"type": e.get("type"), "hostname": e.findtext("hostname"), "port": int(e.findtext("port")),
            "socketType": e.findtext("socketType"), "authentication": e.findtext("authentication"), "username": e.findtext("username")}
print(json.dumps({"provider": provider.get("id"), "domains": [d.text for d in provider.findall("domain")],
                  "incoming": [server(e) for e in provider.findall("incomingServer")],
                  "outgoing": [server(e) for e in provider.findall("outgoingServer")]}))
`;

/** Parses `xml`; rejects with the parser's words when it is not well-formed. */
export function parseAutoconfig(xml: string): Promise<Autoconfig> {
  return new Promise((resolve, reject) => {
    const child = execFile("python3", ["-c", PARSE], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err)
        return reject(new Error(`not a clientConfig document: ${stderr.trim().split("\n").at(-1) ?? err.message}`));
      resolve(JSON.parse(stdout) as Autoconfig);
    });
    child.stdin!.end(xml);
  });
}
