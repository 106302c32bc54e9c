/**
 * Per-destination CloudWatch metrics as EMF lines on stdout (Powertools Metrics): CloudWatch Logs turns each
 * line into metrics, with no PutMetricData call. Namespace `FactoryRelay`, dimensions `service` +
 * `Destination` (the name through destinationDimension: ASCII, as CloudWatch requires); the dashboard and
 * alarms in lib/constructs/ops-monitoring.ts read exactly these.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DeliveryStatus } from '#domain/status.ts';
import { destinationDimension } from './metric-dimension.ts';

export const METRICS_NAMESPACE = 'FactoryRelay';
export const METRICS_SERVICE = 'factory-relay';

export const METRIC = {
  /** The vendor accepted or stored a send (ACCEPTED, PENDING_VALIDATION, PROCESSING, UPLOADED, COMPLETED). */
  delivered: 'Delivered',
  /** Refused for good: REJECTED by the relay or the vendor, FAILED / FAILED_VALIDATION after acceptance. */
  rejected: 'Rejected',
  /** A transient failure, to be retried (RETRYING). */
  retried: 'Retried',
  /** Attempts ran out (DEAD, UNCONFIRMED): the message is in the DLQ. */
  dead: 'Dead',
  /** The vendor already had the content (ALREADY_PRESENT) or the relay skipped it (SKIPPED). */
  duplicate: 'Duplicate',
  /** Milliseconds of one vendor call (a deliver() of one group). */
  vendorLatency: 'VendorLatency',
  /** 1 while the destination is paused or stopped (the poller reports it every run), else 0. */
  paused: 'DestinationPaused',
  /** Seconds the poller's oldest due delivery had waited past its due time (its lag). */
  pollLag: 'PollLagSeconds',
} as const;

/** The counter a recorded status change adds to, if any. */
export function metricOfStatus(status: DeliveryStatus): string | undefined {
  switch (status) {
    case 'ACCEPTED':
    case 'PENDING_VALIDATION':
    case 'PROCESSING':
    case 'UPLOADED':
    case 'COMPLETED':
      return METRIC.delivered;
    case 'REJECTED':
    case 'FAILED':
    case 'FAILED_VALIDATION':
      return METRIC.rejected;
    case 'RETRYING':
      return METRIC.retried;
    case 'DEAD':
    case 'UNCONFIRMED':
      return METRIC.dead;
    case 'ALREADY_PRESENT':
    case 'SKIPPED':
      return METRIC.duplicate;
    default:
      return undefined;
  }
}

/**
 * One invocation's metrics, one EMF line per destination (each its own dimension set) at flush(). Counts are
 * added up until then and written as one value each: a batch of 1000 deliveries is `"Delivered": 1000`, not a
 * thousand values (Powertools writes a line of its own at every 100th value of a metric, so counting each
 * delivery as a value would have made ten lines of `[1,1,…]`). Alarms and the dashboard read Sum, which is
 * the same either way.
 */
export class RelayMetrics {
  private readonly byDestination = new Map<string, Metrics>();
  private readonly counts = new Map<string, Map<string, number>>();
  private general: Metrics | undefined;

  private of(destination: string): Metrics {
    let m = this.byDestination.get(destination);
    if (!m) {
      m = new Metrics({
        namespace: METRICS_NAMESPACE,
        serviceName: METRICS_SERVICE,
        // Not the name itself: a dimension value must be ASCII (metric-dimension.ts).
        defaultDimensions: { Destination: destinationDimension(destination) },
      });
      this.byDestination.set(destination, m);
    }
    return m;
  }

  count(destination: string, name: string, n = 1): void {
    if (!(n > 0)) return;
    let byName = this.counts.get(destination);
    if (!byName) {
      byName = new Map();
      this.counts.set(destination, byName);
    }
    byName.set(name, (byName.get(name) ?? 0) + n);
  }

  status(destination: string, status: DeliveryStatus, n = 1): void {
    const name = metricOfStatus(status);
    if (name) this.count(destination, name, n);
  }

  latency(destination: string, ms: number): void {
    this.of(destination).addMetric(METRIC.vendorLatency, MetricUnit.Milliseconds, ms);
  }

  gauge(destination: string, name: string, value: number): void {
    this.of(destination).addMetric(name, MetricUnit.Count, value);
  }

  /** A metric without the Destination dimension (service only). */
  overall(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void {
    this.general ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
    this.general.addMetric(name, unit, value);
  }

  /** Writes every stored metric (one EMF line per destination) and starts afresh. */
  flush(): void {
    for (const [destination, byName] of this.counts)
      for (const [name, n] of byName) this.of(destination).addMetric(name, MetricUnit.Count, n);
    this.counts.clear();
    for (const m of this.byDestination.values()) if (m.hasStoredMetrics()) m.publishStoredMetrics();
    if (this.general?.hasStoredMetrics()) this.general.publishStoredMetrics();
  }
}

export { MetricUnit };
