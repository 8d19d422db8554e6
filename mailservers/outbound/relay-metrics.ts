// Outbound's own metrics beside the SMTP ones (core/metrics.ts): each recipient's delivery
// result, and the queue's size and the age of its oldest message, read at each scrape.
import type { Clock } from "../../lib/clock.ts";
import type { DaemonMetrics } from "../core/metrics.ts";
import type { Deliver, Queue } from "./relay/index.ts";

/** `deliver`, counting each recipient's result (delivered, deferred, bounced; a throw defers them all). */
export function countedDeliveries(deliver: Deliver, metrics: DaemonMetrics): Deliver {
  const results = metrics.counter("semail_relay_deliveries_total", "Recipients by delivery result.", ["result"]);
  return async (job) => {
    try {
      const replies = await deliver(job);
      for (const reply of replies) results.inc({ result: reply.status });
      return replies;
    } catch (err) {
      for (let n = 0; n < job.recipients.length; n++) results.inc({ result: "deferred" });
      throw err;
    }
  };
}

export function queueGauges(queue: Queue, metrics: DaemonMetrics, clock: Clock): void {
  metrics.gauge("semail_relay_queue_messages", "Messages in the queue (spooled, not yet done).", () => queue.size);
  metrics.gauge(
    "semail_relay_queue_oldest_seconds",
    "Age of the oldest queued message; 0 when the queue is empty.",
    () => {
      const oldest = queue.oldestArrival;
      return oldest === undefined ? 0 : Math.max(0, (clock.now() - oldest) / 1000);
    },
  );
}
