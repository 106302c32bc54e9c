/**
 * The status table's shape, in one place: CDK (lib/) and the local stack (local/) both create the table from
 * it, and the DynamoDB adapter reads and writes by it.
 *
 * Items (single table, keys readable in the console):
 * - a delivery:      pk `object#<bucket>/<key>#<v=versionId | etag=etag>`, sk `destination#<transmit_name>`
 * - an unrouted key: pk `object#<bucket>/<key>#<v=versionId | etag=etag>`, sk `route`
 * - a destination:   pk `destination#<transmit_name>`, sk `state`   (running / paused / stopped, and why)
 * - a rate bucket:   pk `ratelimit#<bucket id>`, sk `bucket`
 * - a cached value:  pk `cache#<destination>#<key>`, sk `value`       (e.g. an uploaded background's id)
 * - delivered content: pk `content#<destination>#<content id>`, sk `delivered` (skip_duplicate_content)
 * - ops counters (the stream aggregator, lambdas/domain/ops/aggregate.ts): pk `stats#destination#<name>` or
 *   `stats#unrouted`, sk `counters` (counts by status, last success, last error) and sk `minute#<YYYY-MM-DDTHH:MM>`
 *   (delivered / failed in that minute, with a TTL); pk `stats#stream#<asset:stream_type>`, sk `counters`
 *
 * Indexes are sparse and their keys move only when what they answer changes:
 * - `byDue`     (due = `<destination>#<status>`, nextCheckAt): deliveries someone still has to act on
 *               (status.ts `DUE`): the poller's and the sweeper's only read.
 * - `bySerial`  (serialNumber, createdAt): every delivery of one unit, in arrival order; written once. Keys only:
 *               a projection of the whole item would be rewritten by every status change of every delivery
 *               (3 of the 10 write units a file cost); its readers fetch the few items a unit has by key.
 * - `byOutcome` (outcome = `<destination>#<status>` or `(unrouted)#UNROUTED`, settledAt): deliveries that
 *               ended in a failure (status.ts `FAILURE`), written once when they settle: "every REJECTED of one
 *               destination", unrouted keys. Successes are not indexed (one index write less per file); they
 *               are found by key or serial.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** TTL attribute (epoch seconds): only short-lived items (rate buckets, cache entries) carry it. */
  ttlAttribute: 'expiresAt',
  /**
   * The table's DynamoDB Stream feeds the aggregator. NEW_AND_OLD_IMAGES: a count is a transition (-1 in the old
   * status, +1 in the new), and only the old image says which status a record left; NEW_IMAGE alone would need
   * a read per change or a write of the previous status into every item.
   */
  streamView: 'NEW_AND_OLD_IMAGES',
  /**
   * `projection`: ALL where the index's entries live only while their key holds (byDue: the poller reads whole
   * records; byOutcome: written once, when a delivery settles); KEYS_ONLY where the entry outlives many updates
   * of the item (bySerial).
   */
  indexes: {
    byDue: { name: 'byDue', partitionKey: 'due', sortKey: 'nextCheckAt', projection: 'ALL' },
    bySerial: {
      name: 'bySerial',
      partitionKey: 'serialNumber',
      sortKey: 'createdAt',
      projection: 'KEYS_ONLY',
    },
    byOutcome: { name: 'byOutcome', partitionKey: 'outcome', sortKey: 'settledAt', projection: 'ALL' },
  },
} as const;

/** The `outcome` partition of unrouted keys (no destination). */
export const UNROUTED_PARTITION = '(unrouted)#UNROUTED';
