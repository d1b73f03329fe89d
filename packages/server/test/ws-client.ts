/** A test WebSocket client for the notification channel: signed handshake, frames collected. */
import { createHmac } from 'node:crypto';
import { hmacAuthorization } from '@zhifu/sdk';
import WebSocket from 'ws';

export interface EventFrame {
  seq: number;
  event: { id: string; seq: number; type: string; data: Record<string, unknown> };
  signatureOk: boolean;
}

export class TestWsClient {
  readonly events: EventFrame[] = [];
  readonly frames: Record<string, unknown>[] = [];
  private waiters: (() => void)[] = [];
  constructor(
    readonly ws: WebSocket,
    hmacKey: string,
  ) {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as Record<string, unknown>;
      this.frames.push(m);
      if (m.type === 'event') {
        const data = m.data as string;
        const expected = createHmac('sha256', Buffer.from(hmacKey)).update(data).digest('base64');
        this.events.push({
          seq: m.seq as number,
          event: JSON.parse(data),
          signatureOk: expected === m.signature,
        });
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static connect(
    base: string,
    creds: { mchid: string; hmac_key: string },
    afterSeq?: number,
    timestampS?: number,
  ): Promise<TestWsClient> {
    const path = `/v1/notifications/ws${afterSeq === undefined ? '' : `?after_seq=${afterSeq}`}`;
    const authorization = hmacAuthorization({
      mchid: creds.mchid,
      hmacKey: creds.hmac_key,
      method: 'GET',
      url: path,
      ...(timestampS ? { timestamp: timestampS } : {}),
    });
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, { headers: { authorization } });
    const client = new TestWsClient(ws, creds.hmac_key);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake refused: ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
  }

  /** Waits until `predicate` holds over the received frames (or throws after `ms`). */
  async until(predicate: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  close(): Promise<void> {
    return new Promise((r) => {
      if (this.ws.readyState === WebSocket.CLOSED) return r();
      this.ws.once('close', () => r());
      this.ws.close();
    });
  }

  ofType(type: string): EventFrame[] {
    return this.events.filter((e) => e.event.type === type);
  }
}
