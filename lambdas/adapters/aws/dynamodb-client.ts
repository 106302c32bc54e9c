/**
 * DynamoDB's JSON protocol for the status table adapter (../dynamodb.ts), shaped as the SDK's DocumentClient
 * (`doc.send(new UpdateCommand(input))` with plain JavaScript values), so that the adapter reads as before.
 * Values are (un)marshalled by the SDK's own `@aws-sdk/util-dynamodb` with the options the DocumentClient was
 * given (undefined values removed, empty values kept). The input and output types are the DocumentClient's
 * (type imports: nothing of the SDK client is bundled).
 *
 * A failed condition is an AwsError named `ConditionalCheckFailedException` whose `Item` (when the write
 * asked for ReturnValuesOnConditionCheckFailure) is unmarshalled, as the DocumentClient's is.
 */
import type {
  BatchGetCommandInput,
  BatchGetCommandOutput,
  DeleteCommandInput,
  DeleteCommandOutput,
  GetCommandInput,
  GetCommandOutput,
  PutCommandInput,
  PutCommandOutput,
  QueryCommandInput,
  QueryCommandOutput,
  UpdateCommandInput,
  UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { AwsError, AwsTransport, type TransportOptions } from './transport.ts';

type Plain = Record<string, unknown>;
type Wire = Record<string, unknown>;

const OPTIONS = { removeUndefinedValues: true, convertEmptyValues: false } as const;

const toWire = (v: Plain | undefined): Wire | undefined =>
  v === undefined ? undefined : (marshall(v, OPTIONS) as Wire);
const fromWire = (v: unknown): Plain | undefined =>
  v === undefined || v === null ? undefined : unmarshall(v as Parameters<typeof unmarshall>[0]);

abstract class Command<I, O> {
  declare readonly output: O;
  abstract readonly operation: string;
  constructor(readonly input: I) {}
  abstract request(): Wire;
  abstract response(out: Wire): O;
}

const meta = { $metadata: {} };

/** The input with its keys and expression values marshalled; everything else as given. */
function marshalled(input: object, keys: readonly string[]): Wire {
  const out: Wire = { ...(input as Wire) };
  for (const k of keys) if (out[k] !== undefined) out[k] = toWire(out[k] as Plain);
  return out;
}

export class GetCommand extends Command<GetCommandInput, GetCommandOutput> {
  readonly operation = 'GetItem';
  request(): Wire {
    return marshalled(this.input, ['Key']);
  }
  response(out: Wire): GetCommandOutput {
    return { ...meta, ...out, Item: fromWire(out.Item) } as GetCommandOutput;
  }
}

export class PutCommand extends Command<PutCommandInput, PutCommandOutput> {
  readonly operation = 'PutItem';
  request(): Wire {
    return marshalled(this.input, ['Item', 'ExpressionAttributeValues']);
  }
  response(out: Wire): PutCommandOutput {
    return { ...meta, ...out, Attributes: fromWire(out.Attributes) } as PutCommandOutput;
  }
}

export class UpdateCommand extends Command<UpdateCommandInput, UpdateCommandOutput> {
  readonly operation = 'UpdateItem';
  request(): Wire {
    return marshalled(this.input, ['Key', 'ExpressionAttributeValues']);
  }
  response(out: Wire): UpdateCommandOutput {
    return { ...meta, ...out, Attributes: fromWire(out.Attributes) } as UpdateCommandOutput;
  }
}

export class DeleteCommand extends Command<DeleteCommandInput, DeleteCommandOutput> {
  readonly operation = 'DeleteItem';
  request(): Wire {
    return marshalled(this.input, ['Key', 'ExpressionAttributeValues']);
  }
  response(out: Wire): DeleteCommandOutput {
    return { ...meta, ...out, Attributes: fromWire(out.Attributes) } as DeleteCommandOutput;
  }
}

export class QueryCommand extends Command<QueryCommandInput, QueryCommandOutput> {
  readonly operation = 'Query';
  request(): Wire {
    return marshalled(this.input, ['ExpressionAttributeValues', 'ExclusiveStartKey']);
  }
  response(out: Wire): QueryCommandOutput {
    return {
      ...meta,
      ...out,
      Items: Array.isArray(out.Items) ? out.Items.map((i) => fromWire(i) as Plain) : undefined,
      LastEvaluatedKey: fromWire(out.LastEvaluatedKey),
    } as QueryCommandOutput;
  }
}

type KeysAndAttributes = { Keys?: Plain[] } & Record<string, unknown>;

export class BatchGetCommand extends Command<BatchGetCommandInput, BatchGetCommandOutput> {
  readonly operation = 'BatchGetItem';
  request(): Wire {
    const items: Wire = {};
    for (const [table, spec] of Object.entries(
      (this.input.RequestItems ?? {}) as Record<string, KeysAndAttributes>,
    ))
      items[table] = { ...spec, Keys: (spec.Keys ?? []).map((k) => toWire(k)) };
    return { ...(this.input as Wire), RequestItems: items };
  }
  response(out: Wire): BatchGetCommandOutput {
    const responses: Record<string, Plain[]> = {};
    for (const [table, items] of Object.entries((out.Responses ?? {}) as Record<string, unknown[]>))
      responses[table] = items.map((i) => fromWire(i) as Plain);
    const unprocessed: Record<string, KeysAndAttributes> = {};
    for (const [table, spec] of Object.entries(
      (out.UnprocessedKeys ?? {}) as Record<string, KeysAndAttributes>,
    ))
      unprocessed[table] = { ...spec, Keys: (spec.Keys ?? []).map((k) => fromWire(k) as Plain) };
    return { ...meta, ...out, Responses: responses, UnprocessedKeys: unprocessed } as BatchGetCommandOutput;
  }
}

export type DocCommand =
  | GetCommand
  | PutCommand
  | UpdateCommand
  | DeleteCommand
  | QueryCommand
  | BatchGetCommand;

/** What the status table adapter sends its commands to. */
export interface DocSender {
  send<C extends DocCommand>(command: C): Promise<C['output']>;
}

export class DocumentClient implements DocSender {
  readonly transport: AwsTransport;

  constructor(opts: TransportOptions = {}) {
    this.transport = new AwsTransport('dynamodb', opts);
  }

  async send<C extends DocCommand>(command: C): Promise<C['output']> {
    try {
      const out = await this.transport.json<Wire>(
        `DynamoDB_20120810.${command.operation}`,
        '1.0',
        command.request(),
      );
      return command.response(out);
    } catch (err) {
      if (err instanceof AwsError && err.details.Item !== undefined)
        throw Object.assign(err, { Item: fromWire(err.details.Item) });
      throw err;
    }
  }

  destroy(): void {
    this.transport.destroy();
  }
}
