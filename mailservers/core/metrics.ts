// A daemon's Prometheus metrics (prom-client), served at http://<metricsListen>/metrics when
// the daemon's `metricsListen` is set, and nowhere otherwise: nothing leaves the machine
// unless an operator points a Prometheus at it. prom-client is loaded only then, so a daemon
// without metrics does not carry it (each daemon's memory is budgeted, docs/performance.md).
//
// The SMTP counters come from the front end (smtp-observer.ts); a daemon adds its own
// (outbound: deliveries and the queue; inbound: the store's commit time) with `counter`,
// `gauge` and `histogram`. Names start with semail_, and every series is labelled with the
// daemon, so one Prometheus can scrape both.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { ListenSpec } from "../../lib/listen-spec.ts";
import type { SmtpObserver } from "./smtp-observer.ts";

export interface DaemonMetrics {
  /** The front end's counters. */
  readonly observer: SmtpObserver;
  /** Where /metrics is served: "127.0.0.1:9101". */
  readonly address: string;
  /** A counter with these labels; `inc(labels)` adds one. */
  counter(name: string, help: string, labels: readonly string[]): { inc(labels: Record<string, string>): void };
  /** A gauge read at each scrape. */
  gauge(name: string, help: string, read: () => number): void;
  /** A histogram of seconds. */
  histogram(name: string, help: string, buckets: readonly number[]): { observe(seconds: number): void };
  close(): Promise<void>;
}

export async function startMetrics(daemon: string, listen: ListenSpec, logger: Logger): Promise<DaemonMetrics> {
  // The default export: the bundle the image runs gives prom-client's exports under it alone (as mailauth's).
  const client = (await import("prom-client")).default;
  const registry = new client.Registry();
  registry.setDefaultLabels({ daemon });
  client.collectDefaultMetrics({ register: registry, prefix: "semail_" });

  const counter = (name: string, help: string, labels: readonly string[]) =>
    new client.Counter({ name, help, labelNames: [...labels], registers: [registry] });
  const connections = counter("semail_smtp_connections_total", "SMTP sessions let in.", []);
  const refusals = counter("semail_smtp_refusals_total", "SMTP refusals by stage and reply code.", [
    "stage",
    "code",
    "enhanced",
  ]);
  const accepted = counter("semail_smtp_messages_accepted_total", "Messages that got a 2xx at DATA.", []);
  const acceptedBytes = counter("semail_smtp_accepted_bytes_total", "Bytes of the messages accepted.", []);
  const auth = counter("semail_smtp_auth_total", "AUTH outcomes: ok, failed (535), unavailable (454).", ["outcome"]);

  const observer: SmtpObserver = {
    connected: () => connections.inc(),
    refused: (stage, reply) => refusals.inc({ stage, code: String(reply.responseCode), enhanced: reply.enhancedCode }),
    accepted: (bytes) => {
      accepted.inc();
      acceptedBytes.inc(bytes);
    },
    authenticated: (outcome) => auth.inc({ outcome }),
  };

  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, "metrics: collecting failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("collecting the metrics failed\n");
      },
    );
  });
  await listenOn(server, listen);
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  logger.info({ metrics: `http://${address}/metrics` }, "metrics listening");

  return {
    observer,
    address,
    counter: (name, help, labels) => counter(name, help, labels),
    gauge: (name, help, read) => {
      new client.Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    },
    histogram: (name, help, buckets) =>
      new client.Histogram({ name, help, buckets: [...buckets], registers: [registry] }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function listenOn(server: Server, listen: ListenSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`metricsListen ${listen.spec}: ${err.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
}
