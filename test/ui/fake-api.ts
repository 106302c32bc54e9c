/**
 * A stand-in for the ops API (docs/ops-api.md) with fixture data, for driving the page in Chromium without the
 * local stack: the page's files come from ui/serve.ts as in production; `/v1/*` answers from `state`, which
 * the actions change (stop/start, restream with dry run, redrive) and record in `calls`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  DeadLettersResponse,
  Delivery,
  DeliveryDetail,
  StatusResponse,
  StreamsResponse,
} from '../../ui/page/types.ts';
import { uiAnswer } from '../../ui/serve.ts';

export const NOW = new Date();
const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000).toISOString();

/** A 1×1 PNG (the image the Find view shows). */
export const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

function delivery(over: Partial<Delivery> & Pick<Delivery, 'id' | 'key' | 'status'>): Delivery {
  return { bucket: 'ingest', createdAt: at(30), updatedAt: at(29), attempts: 1, ...over };
}

export function fixtures() {
  const deliveries: DeliveryDetail[] = [
    {
      ...delivery({
        id: 'd-inst-1',
        key: 'line-1/aoi-top/SN-1001_20260105T081500Z.jpg',
        versionId: 'v1',
        destination: 'instrumental-demo',
        vendor: 'instrumental',
        status: 'UPLOADED',
        serial: 'SN-1001',
        stream: 'line-1:aoi-camera',
        vendorRef: 'inst-img-42',
      }),
      history: [
        { at: at(30), status: 'QUEUED' },
        { at: at(29.9), status: 'SENDING', attempt: 1 },
        { at: at(29.8), status: 'ACCEPTED', message: 'HTTP 201' },
        { at: at(29), status: 'UPLOADED' },
      ],
    },
    {
      ...delivery({
        id: 'd-ei-1',
        key: 'line-1/aoi-top/SN-1001_20260105T081500Z.jpg',
        versionId: 'v1',
        destination: 'edge-impulse-demo',
        vendor: 'edge-impulse',
        status: 'REJECTED',
        serial: 'SN-1001',
        stream: 'line-1:aoi-camera',
        lastError: { code: 'LABEL_MISSING', message: 'no label for the sample', httpStatus: 400 },
      }),
      history: [
        { at: at(30), status: 'QUEUED' },
        { at: at(29.5), status: 'REJECTED', code: 'LABEL_MISSING' },
      ],
    },
    {
      ...delivery({
        id: 'd-ei-2',
        key: 'line-1/aoi-top/SN-1002_20260105T081600Z.jpg',
        destination: 'edge-impulse-demo',
        vendor: 'edge-impulse',
        status: 'REJECTED',
        serial: 'SN-1002',
        lastError: { code: 'LABEL_MISSING', message: 'no label for the sample' },
      }),
      history: [{ at: at(20), status: 'REJECTED', code: 'LABEL_MISSING' }],
    },
    {
      ...delivery({
        id: 'd-un-1',
        key: 'line-9/unknown/thing.bin',
        status: 'UNROUTED',
        lastError: { code: 'NO_MATCHING_STREAM', message: 'the key matches no stream' },
      }),
      history: [{ at: at(10), status: 'UNROUTED', code: 'NO_MATCHING_STREAM' }],
    },
  ];
  const status: StatusResponse = {
    generatedAt: NOW.toISOString(),
    destinations: [
      {
        name: 'instrumental-demo',
        vendor: 'instrumental',
        state: 'running',
        counts: { UPLOADED: 4, QUEUED: 2 },
        lastSuccess: { at: at(29), key: deliveries[0]!.key },
        dlqDepth: 0,
        oldestPendingAgeSeconds: 12,
        perMinute: [
          { minute: at(30), delivered: 3, failed: 0 },
          { minute: at(29), delivered: 1, failed: 0 },
        ],
      },
      {
        name: 'edge-impulse-demo',
        vendor: 'edge-impulse',
        state: 'running',
        counts: { UPLOADED: 2, REJECTED: 2 },
        lastError: {
          code: 'LABEL_MISSING',
          message: 'no label for the sample',
          at: at(20),
          key: deliveries[2]!.key,
        },
        dlqDepth: 3,
        oldestPendingAgeSeconds: null,
        perMinute: [{ minute: at(20), delivered: 2, failed: 2 }],
      },
    ],
    unrouted: { count: 1, lastAt: at(10) },
  };
  const streams: StreamsResponse = {
    streams: [
      {
        stream: 'line-1:aoi-camera',
        data_receiver: 'factory-bucket',
        id: 'line-1:aoi-camera',
        receiver: 'factory-bucket',
        asset: 'line-1',
        stream_type: 'aoi-camera',
        destinations: ['instrumental-demo', 'edge-impulse-demo'],
        lastObjectAt: at(20),
        lastDeliveredAt: at(20),
        markers: [
          {
            component: 'edge-impulse-demo',
            component_type: 'Transmit',
            asset: 'line-1',
            stream_type: 'aoi-camera',
            category: 'error_rate',
            level: 'warning',
            message: 'error rate 50% over the last 15 minutes',
            timestamp: at(1),
          },
        ],
      },
    ],
    unrouted: {
      count: 1,
      lastAt: at(10),
      marker: {
        component: 'factory-bucket',
        component_type: 'Receiver',
        category: 'unrouted',
        level: 'warning',
        message: '1 key matched no stream (last: line-9/unknown/x.bin)',
        timestamp: at(10),
      },
    },
  };
  const deadletters: DeadLettersResponse = {
    queues: [
      { queue: 'ingest', depth: 0, messages: [] },
      {
        queue: 'edge-impulse',
        vendor: 'edge-impulse',
        destination: 'edge-impulse-demo',
        depth: 3,
        messages: [{ messageId: 'm1', key: deliveries[1]!.key, reason: 'DEAD' }],
      },
    ],
  };
  return { deliveries, status, streams, deadletters };
}

export interface FakeApi {
  url: string;
  state: ReturnType<typeof fixtures>;
  calls: { method: string; path: string; body?: unknown }[];
  stop(): Promise<void>;
}

const ok = (response: unknown) => ({ success: true, response, error: null });
const fail = (code: string, text: string) => ({ success: false, response: null, error: { code, text } });

export async function startFakeApi(): Promise<FakeApi> {
  const state = fixtures();
  const calls: FakeApi['calls'] = [];
  const strip = ({ history: _h, ...d }: DeliveryDetail): Delivery => d;

  const v1 = (method: string, url: URL, body: Record<string, unknown> | undefined): [number, unknown] => {
    const p = url.pathname;
    const q = url.searchParams;
    if (method === 'GET' && p === '/v1/status') return [200, ok(state.status)];
    if (method === 'GET' && p === '/v1/streams') return [200, ok(state.streams)];
    if (method === 'GET' && p === '/v1/deadletters') return [200, ok(state.deadletters)];
    if (method === 'GET' && p === '/v1/deliveries') {
      const items = state.deliveries.filter((d) => {
        if (q.has('serial')) return d.serial === q.get('serial');
        if (q.has('key')) return d.key.startsWith(q.get('key')!);
        const dest = q.get('destination');
        return (
          (dest === '(unrouted)' ? d.destination === undefined : d.destination === dest) &&
          d.status === q.get('status')
        );
      });
      return [200, ok({ items: items.map(strip) })];
    }
    const one = /^\/v1\/deliveries\/([^/]+)$/.exec(p);
    if (method === 'GET' && one) {
      const d = state.deliveries.find((x) => x.id === decodeURIComponent(one[1]!));
      return d ? [200, ok(d)] : [404, fail('NOT_FOUND', 'no such delivery')];
    }
    const ss = /^\/v1\/destinations\/([^/]+)\/(stop|start)$/.exec(p);
    if (method === 'POST' && ss) {
      const d = state.status.destinations.find((x) => x.name === decodeURIComponent(ss[1]!));
      if (!d) return [404, fail('NOT_FOUND', 'no such destination')];
      d.state = ss[2] === 'stop' ? 'stopped' : 'running';
      return [200, ok({ name: d.name, state: d.state })];
    }
    if (method === 'POST' && p === '/v1/restream') {
      const matched = state.deliveries.filter(
        (d) =>
          d.destination === body?.destination &&
          d.status === body?.status &&
          d.lastError?.code === body?.code,
      ).length;
      const requestId = String(body?.requestId);
      return body?.dryRun === true
        ? [200, ok({ requestId, matched, queued: 0, duplicate: false, dryRun: true })]
        : [202, ok({ requestId, matched, queued: matched, duplicate: false, state: 'running' })];
    }
    if (method === 'POST' && p === '/v1/deadletters/redrive') {
      const queue = state.deadletters.queues.find((x) => x.queue === body?.queue);
      if (!queue) return [404, fail('NOT_FOUND', 'no such queue')];
      const moved = queue.depth;
      queue.depth = 0;
      return [202, ok({ redriveId: 'r-1', queue: queue.queue, requested: moved, moved })];
    }
    return [404, fail('NOT_FOUND', `no route ${method} ${p}`)];
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    calls.push({ method: req.method ?? 'GET', path: url.pathname, ...(body ? { body } : {}) });
    if (url.pathname.startsWith('/v1/')) {
      const [status, answer] = v1(req.method ?? 'GET', url, body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      return;
    }
    const a = await uiAnswer(url.pathname, url.searchParams, {
      delivery: async (id) => state.deliveries.find((d) => d.id === id),
      read: async ({ key }) => (key.endsWith('.jpg') ? { contentType: 'image/png', body: PIXEL } : undefined),
    });
    res.writeHead(a.statusCode, a.headers).end(a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
