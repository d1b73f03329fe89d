/**
 * `npm run bench:notify`: one merchant backend on the notification WebSocket. Signed handshake
 * (`hmacAuthorization`, as packages/server/test/ws-client.ts), every event frame's HMAC checked,
 * and every `payment.decision_required` answered `approve` after the configured think time.
 * Timestamps (performance.now(), ms) go into the shared payment records.
 */
import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { hmacAuthorization } from '@zhifu/sdk';
import WebSocket from 'ws';

export interface PayRecord {
  outTradeNo: string;
  /** The think time the handler was asked to wait, ms. */
  thinkMs: number;
  tCreate: number;
  tPaySent?: number;
  tEvent?: number;
  tDecisionSent?: number;
  tResult?: number;
  tPayDone?: number;
  resultApplied?: boolean;
  resultCode?: string;
  /** From the pay response. */
  tradeState?: string;
  decidedBy?: string;
  error?: string;
}

/** The records of the current run, shared by all sockets. */
export class Ledger {
  readonly byTradeNo = new Map<string, PayRecord>();
  readonly byEvent = new Map<string, PayRecord>();
  badSignatures = 0;
  otherEvents = 0;
  unknownEvents = 0;
  frameBytes = 0;
  frames = 0;
  errorsFrames: string[] = [];

  reset(): void {
    this.byTradeNo.clear();
    this.byEvent.clear();
    this.badSignatures = 0;
    this.otherEvents = 0;
    this.unknownEvents = 0;
    this.errorsFrames = [];
  }
}

export type Think = () => number;

export class MerchantSocket {
  think: Think = () => 0;

  private constructor(
    private readonly ws: WebSocket,
    private readonly hmacKey: Buffer,
    private readonly ledger: Ledger,
  ) {
    ws.on('message', (raw) => this.onFrame(raw.toString()));
  }

  static connect(
    base: string,
    creds: { mchid: string; hmac_key: string },
    ledger: Ledger,
    timeoutMs = 10_000,
  ): Promise<MerchantSocket> {
    const path = '/v1/notifications/ws';
    const authorization = hmacAuthorization({
      mchid: creds.mchid,
      hmacKey: creds.hmac_key,
      method: 'GET',
      url: path,
    });
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, {
      headers: { authorization },
      perMessageDeflate: false,
    });
    const socket = new MerchantSocket(ws, Buffer.from(creds.hmac_key), ledger);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`ws ${creds.mchid}: no hello in ${timeoutMs} ms`)),
        timeoutMs,
      );
      // Attached once the hub says hello (the hub attaches asynchronously after the upgrade).
      const onHello = (raw: WebSocket.RawData) => {
        if (raw.toString().startsWith('{"type":"hello"')) {
          clearTimeout(timer);
          ws.off('message', onHello);
          resolve(socket);
        }
      };
      ws.on('message', onHello);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`ws ${creds.mchid}: handshake refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws.terminate();
  }

  private onFrame(text: string): void {
    const now = performance.now();
    const ledger = this.ledger;
    ledger.frames += 1;
    let m: {
      type?: string;
      data?: string;
      signature?: string;
      event_id?: string;
      applied?: boolean;
      code?: string;
    };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      if (ledger.errorsFrames.length < 5) ledger.errorsFrames.push(text.slice(0, 200));
      return;
    }
    if (m.type === 'event' && typeof m.data === 'string') {
      ledger.frameBytes += text.length;
      const expected = createHmac('sha256', this.hmacKey).update(m.data).digest('base64');
      if (expected !== m.signature) {
        ledger.badSignatures += 1;
        return;
      }
      const e = JSON.parse(m.data) as { id: string; type: string; data: { out_trade_no?: string } };
      if (e.type !== 'payment.decision_required') {
        ledger.otherEvents += 1;
        return;
      }
      const r = ledger.byTradeNo.get(e.data.out_trade_no ?? '');
      if (!r) {
        // An earlier run's late event, or the warm-up's: answered anyway so nothing waits for the deadline.
        ledger.unknownEvents += 1;
        this.ws.send(JSON.stringify({ type: 'decision', event_id: e.id, decision: 'approve' }));
        return;
      }
      r.tEvent = now;
      ledger.byEvent.set(e.id, r);
      const answer = () => {
        r.tDecisionSent = performance.now();
        this.ws.send(JSON.stringify({ type: 'decision', event_id: e.id, decision: 'approve' }));
      };
      if (r.thinkMs <= 0) answer();
      else setTimeout(answer, r.thinkMs);
    } else if (m.type === 'decision_result' && typeof m.event_id === 'string') {
      const r = ledger.byEvent.get(m.event_id);
      if (!r) return;
      r.tResult = now;
      r.resultApplied = m.applied === true;
      if (m.code !== undefined) r.resultCode = m.code;
    } else if (m.type === 'error') {
      if (ledger.errorsFrames.length < 5) ledger.errorsFrames.push(text.slice(0, 200));
    }
  }
}
