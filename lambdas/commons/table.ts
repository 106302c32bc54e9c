/**
 * The status table's shape, in one place: CDK (lib/) and the local stack (local/) both create the table from
 * it, and the DynamoDB adapter reads and writes by it.
 *
 * Items (single table, keys readable in the console):
 * - a delivery:      pk `object#<bucket>/<key>#<versionId or etag>`, sk `destination#<transmit_name>`
 * - an unrouted key: pk `object#<bucket>/<key>#<versionId or etag>`, sk `route`
 * - a destination:   pk `destination#<transmit_name>`, sk `state`   (paused / running, last auth error)
 * - a rate bucket:   pk `ratelimit#<destination or key fingerprint>`, sk `bucket`
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** TTL attribute (epoch seconds): only short-lived items (rate buckets) carry it. */
  ttlAttribute: 'expiresAt',
  indexes: {
    /** The poller's index: pending deliveries of one destination in one status, oldest check first. */
    byDestinationStatus: {
      name: 'byDestinationStatus',
      partitionKey: 'destinationStatus',
      sortKey: 'nextCheckAt',
    },
    /** Ops: every delivery of one unit, newest last. */
    bySerialNumber: { name: 'bySerialNumber', partitionKey: 'serialNumber', sortKey: 'updatedAt' },
  },
} as const;
