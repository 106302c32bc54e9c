/**
 * The bound on streamed Buffer garbage (lambdas/commons/stream-gc.ts) on a real S3 stream: a file read through
 * S3Objects.stream from the local S3 emulator arrives whole, and the process's bound scavenged once per 4 MiB of
 * it. The memory this saves is measured by `npm run bench -- memory`, not here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Objects } from '../../lambdas/adapters/s3.ts';
import { processGarbageBound } from '../../lambdas/commons/stream-gc.ts';
import type { ObjectRef } from '../../lambdas/vendors/types.ts';
import type { LocalClients } from '../../local/clients.ts';
import type { Emulators } from '../../local/emulators.ts';
import { createResources, type LocalResources } from '../../local/resources.ts';
import { startLocalS3 } from './helpers.ts';

const MiB = 1024 * 1024;

let emu: Emulators;
let clients: LocalClients;
let res: LocalResources;

before(async () => {
  ({ emu, clients } = await startLocalS3());
  res = await createResources({ clients, sqsEndpoint: emu.sqsEndpoint, vendors: [], table: false });
});
after(async () => {
  clients.destroy();
  await emu.stop();
});

describe('the garbage bound on an S3 stream', () => {
  it('a 10 MiB file arrives byte for byte, with a scavenge per 4 MiB streamed', async () => {
    const body = Buffer.alloc(10 * MiB);
    for (let i = 0; i < body.length; i += 512) body.writeUInt32BE(i, i);
    const key = 'line-1/cam/big.bin';
    const out = await clients.s3.send(
      new PutObjectCommand({ Bucket: res.buckets.ingest, Key: key, Body: body }),
    );
    const ref: ObjectRef = { bucket: res.buckets.ingest, key, etag: out.ETag ?? '', size: body.length };

    const bound = processGarbageBound();
    assert.equal(bound.stepBytes, 4 * MiB, 'the default step');
    const before = bound.collections;
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of await new S3Objects(clients.relay.s3).stream(ref)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    assert.equal(bytes, body.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
    assert.equal(bound.active, true, 'V8 gave its collector at run time');
    assert.equal(bound.collections - before, 2, '10 MiB = two 4 MiB steps');
  });
});
