import { AttributeType, ProjectionType, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE } from '../../lambdas/commons/table.ts';
import { tableDefaults } from '../defaults.ts';

/**
 * Types of the key attributes named in TABLE. Every one is a string: `pk`/`sk` are composed keys,
 * `nextCheckAt` and `updatedAt` are ISO-8601 timestamps (lambdas/domain/delivery.ts), so they sort as text.
 */
const KEY_TYPE = AttributeType.STRING;

/** The status table, created from TABLE (lambdas/commons/table.ts): keys, GSIs, the TTL attribute, the stream. */
export class StatusTable extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: KEY_TYPE },
      sortKey: { name: TABLE.sortKey, type: KEY_TYPE },
      ...tableDefaults(),
      timeToLiveAttribute: TABLE.ttlAttribute,
      // The aggregator's feed (lambdas/handlers/aggregator.ts); why both images: TABLE.streamView.
      stream: StreamViewType[TABLE.streamView],
    });
    for (const index of Object.values(TABLE.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: KEY_TYPE },
        sortKey: { name: index.sortKey, type: KEY_TYPE },
        projectionType: ProjectionType[index.projection],
      });
    }
  }
}
