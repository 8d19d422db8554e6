// The relay, the submission daemon's backend, as the rest of the tree sees it:
//   spool/     durable storage: segments, message files, journals
//   queue/     scheduling: retries, recipient state, reports (DSNs), `semail queue` requests
//   delivery/  sending: MX routing, connections, the SMTP transaction, DKIM
export { QUEUE_ID, Spool } from "./spool/spool.ts";
export type { SpoolEnvelope, SpoolRecord } from "./spool/record.ts";
export { Queue, type Deliver, type DeliveryJob } from "./queue/queue.ts";
export { claimSpool, runningDaemon, watchRequests, writeRequest } from "./queue/queue-control.ts";
export { replay } from "./queue/recipient-state.ts";
export { dateOf } from "./queue/dsn.ts";
export { createSender } from "./delivery/send.ts";
export { deliveryOptionsFromSettings } from "./delivery/delivery-settings.ts";
export { receivedHeader } from "./delivery/hygiene.ts";
