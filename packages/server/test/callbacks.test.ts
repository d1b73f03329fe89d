/**
 * APIv3 callback delivery (modules/notifications/callbacks.ts, ssrf.ts): regression tests named
 * after the defects a review found. The broader behaviour is in notifications.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MerchantKeyCache } from '../src/modules/merchants/index.ts';
import {
  CallbackDispatcher,
  type CallbackEventType,
  enqueueCallback,
} from '../src/modules/notifications/callbacks.ts';
import { openTestApp, type TestApp } from './harness.ts';

/** A real HTTP receiver for APIv3 callbacks: answers with `status`, keeps every request. */
async function receiver(status: () => number) {
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/notify`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function enqueue(t: TestApp, eventType: CallbackEventType, ref: string, notifyUrl: string) {
  await t.ctx.db.transaction().execute((trx) =>
    enqueueCallback(t.ctx, trx, {
      mchid: t.merchant.mchid,
      eventType,
      ref,
      notifyUrl,
      resource: { mchid: t.merchant.mchid, out_refund_no: ref, refund_status: 'CLOSED' },
    }),
  );
}

describe('callback summaries', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { background: false } });
  });
  afterAll(() => t.close());

  it('REFUND.CLOSED is summarised 退款关闭 as WeChat Pay words it, REFUND.ABNORMAL 退款异常', async () => {
    const r = await receiver(() => 200);
    try {
      await enqueue(t, 'REFUND.CLOSED', 'R-closed', r.url);
      await enqueue(t, 'REFUND.ABNORMAL', 'R-abnormal', r.url);
      const dispatcher = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      expect(await dispatcher.tick()).toBe(2);
      const bodies = r.received.map((x) => JSON.parse(x.body));
      expect(Object.fromEntries(bodies.map((b) => [b.event_type, b.summary]))).toEqual({
        'REFUND.CLOSED': '退款关闭',
        'REFUND.ABNORMAL': '退款异常',
      });
      expect(bodies.every((b) => b.resource.original_type === 'refund')).toBe(true);
    } finally {
      await r.close();
    }
  });
});
