import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from '../../../test/harness.ts';
import { ws_buffered_bytes_max } from '../../lib/limits.ts';
import { createMerchant, MerchantKeyCache } from '../merchants/index.ts';
import { close_resync, Hub } from './hub.ts';
import { emit } from './notifications.service.ts';

/** A socket stand-in whose send buffer we control: the hub reads bufferedAmount and readyState. */
function socket(bufferedAmount: number) {
  const sent: string[] = [];
  const closed: [number, string][] = [];
  const handlers = new Map<string, () => void>();
  return {
    sent,
    closed,
    OPEN: 1,
    readyState: 1,
    bufferedAmount,
    send: (d: string) => sent.push(d),
    close(code: number, reason: string) {
      closed.push([code, reason]);
      this.readyState = 3;
      handlers.get('close')?.();
    },
    on: (name: string, f: () => void) => handlers.set(name, f),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('the WebSocket hub (real database)', () => {
  let t: TestDb;
  let mchid: string;
  let hub: Hub;
  beforeAll(async () => {
    t = await openTestDb('sqlite');
    mchid = (await createMerchant(t.ctx, { name: 'hub test' })).mchid;
    hub = new Hub(t.ctx, new MerchantKeyCache(t.ctx), async () => ({ applied: false }));
  });
  afterAll(() => t.close());

  const write = (n: number) =>
    t.ctx.db.transaction().execute(async (trx) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await emit(t.ctx, trx, mchid, 'payment.succeeded', { i }));
      return out;
    });

  it('disconnects a slow client with 4008 (resync) instead of buffering without bound, and keeps serving others', async () => {
    const slow = socket(ws_buffered_bytes_max + 1);
    const fast = socket(0);
    await hub.attach(slow as never, mchid, 0);
    await hub.attach(fast as never, mchid, 0);
    await settle();
    hub.publish(mchid, await write(2));
    await settle();
    expect(slow.closed[0]?.[0]).toBe(close_resync);
    expect(slow.closed[0]?.[1]).toMatch(/after_seq=0/);
    expect(fast.sent.filter((f) => f.includes('"type":"event"'))).toHaveLength(2);
    expect(hub.connections(mchid)).toBe(1);
  });

  it('sends a backlog at the pace the client reads it instead of cutting it off', async () => {
    const backlog = await write(3);
    const reading = socket(ws_buffered_bytes_max); // over half the bound: the pump waits
    await hub.attach(reading as never, mchid, backlog[0]!.seq - 1);
    await settle();
    expect(reading.sent.filter((f) => f.includes('"type":"event"'))).toHaveLength(0);
    reading.bufferedAmount = 0; // the client read what was buffered
    await settle();
    expect(reading.closed).toEqual([]);
    expect(reading.sent.filter((f) => f.includes('"type":"event"'))).toHaveLength(3);
  });

  it('clamps a resume point beyond the last event, so later events are not skipped', async () => {
    const s = socket(0);
    await hub.attach(s as never, mchid, 999);
    await settle();
    const [e] = await write(1);
    hub.publish(mchid, [e!]);
    await settle();
    expect(s.sent.some((f) => f.includes(`"seq":${e!.seq}`))).toBe(true);
  });
});
