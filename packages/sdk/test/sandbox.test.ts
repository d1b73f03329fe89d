import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { payerProof, SandboxClient, ZhifuApiError } from '../src/index.ts';

interface Sent {
  url: string;
  method: string;
  body: string;
}

function sandboxWith(answer: (request: Sent) => Response): { sandbox: SandboxClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const request = {
      url: String(input),
      method: init?.method ?? 'GET',
      body: typeof init?.body === 'string' ? init.body : '',
    };
    sent.push(request);
    return answer(request);
  };
  return {
    sandbox: new SandboxClient({ baseUrl: 'http://zhifu.test/', fetch: fetchFn as typeof fetch }),
    sent,
  };
}

const json = (value: unknown, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });

const sessionKey = Buffer.from('0123456789abcdef').toString('base64');

describe('payerProof', () => {
  it('is HMAC-SHA256 under the decoded session key over the 7-line confirmation', () => {
    const proof = payerProof({
      target: 'wx201410272009395522657a690389285100',
      openid: 'o-payer-1',
      instrumentId: 'ins_1',
      deviceFingerprint: 'dev-1',
      timestamp: '1700000000',
      nonce: 'abc',
      sessionKey,
    });
    const expected = createHmac('sha256', Buffer.from('0123456789abcdef'))
      .update(
        'ZHIFU-PAYER-CONFIRM\nwx201410272009395522657a690389285100\no-payer-1\nins_1\ndev-1\n1700000000\nabc\n',
      )
      .digest('base64');
    expect(proof).toBe(expected);
  });

  it('signs an empty line when no instrument is chosen', () => {
    const input = {
      target: 't',
      openid: 'o',
      deviceFingerprint: 'd',
      timestamp: '1',
      nonce: 'n',
      sessionKey,
    };
    const expected = createHmac('sha256', Buffer.from('0123456789abcdef'))
      .update('ZHIFU-PAYER-CONFIRM\nt\no\n\nd\n1\nn\n')
      .digest('base64');
    expect(payerProof(input)).toBe(expected);
  });
});

describe('SandboxClient', () => {
  const order = {
    appid: 'wx0000000000000001',
    mchid: '1900000001',
    merchant_name: 'Tea House',
    out_trade_no: 'T1',
    description: 'Tea',
    trade_type: 'NATIVE',
    trade_state: 'NOTPAY',
    amount: { total: 100, currency: 'CNY' },
    payer_openid: null,
  };
  const payment = {
    transaction_id: '4200000000000000000000000001',
    out_trade_no: 'T1',
    trade_state: 'SUCCESS',
    success_time: '2024-01-01T12:00:00+08:00',
    amount: { total: 100, payer_total: 100, currency: 'CNY' },
    instrument_id: 'ins_1',
    bank_type: 'OTHERS',
  };

  it('pays a Native code_url as a payer: lookup, login, then a proof the server can check', async () => {
    const codeUrl = 'weixin://wxpay/bizpayurl?pr=abc';
    const { sandbox, sent } = sandboxWith((request) => {
      const path = new URL(request.url).pathname;
      if (path === '/sandbox/v1/orders/lookup') return json(order);
      if (path === '/sandbox/v1/login') return json({ code: 'c1', session_key: sessionKey, expires_at: 'x' });
      return json(payment);
    });
    await expect(sandbox.payAs({ target: codeUrl, openid: 'o-payer-1' })).resolves.toEqual(payment);

    expect(sent.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'GET /sandbox/v1/orders/lookup',
      'POST /sandbox/v1/login',
      'POST /sandbox/v1/pay',
    ]);
    expect(new URL(sent[0]!.url).searchParams.get('code_url')).toBe(codeUrl);
    expect(JSON.parse(sent[1]!.body)).toEqual({
      appid: order.appid,
      openid: 'o-payer-1',
      device_fingerprint: 'sdk-device-o-payer-1',
    });
    const pay = JSON.parse(sent[2]!.body) as Record<string, string>;
    expect(pay).not.toHaveProperty('instrument_id');
    expect(pay.code_url).toBe(codeUrl);
    expect(pay.nonce).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(Math.abs(Number(pay.timestamp) - Date.now() / 1000)).toBeLessThan(5);
    expect(pay.signature).toBe(
      payerProof({
        target: codeUrl,
        openid: 'o-payer-1',
        deviceFingerprint: 'sdk-device-o-payer-1',
        timestamp: pay.timestamp ?? '',
        nonce: pay.nonce ?? '',
        sessionKey,
      }),
    );
  });

  it('skips the lookup when the appid is given and addresses prepay ids by prepay_id', async () => {
    const { sandbox, sent } = sandboxWith((request) =>
      request.url.endsWith('/login')
        ? json({ code: 'c', session_key: sessionKey, expires_at: 'x' })
        : json(payment),
    );
    await sandbox.payAs({ appid: 'wx1', target: 'wx2024', openid: 'o', instrumentId: 'ins_9' });
    expect(sent).toHaveLength(2);
    expect(JSON.parse(sent[1]!.body)).toMatchObject({ prepay_id: 'wx2024', instrument_id: 'ins_9' });
  });

  it('lists payers and instruments with escaped parameters', async () => {
    const { sandbox, sent } = sandboxWith(() => json({ data: [] }));
    await sandbox.listPayers('wx 1');
    await sandbox.instruments('o/1');
    expect(sent.map((r) => r.url)).toEqual([
      'http://zhifu.test/sandbox/v1/payers?appid=wx%201',
      'http://zhifu.test/sandbox/v1/payers/o%2F1/instruments',
    ]);
  });

  it('turns an error body into ZhifuApiError', async () => {
    const { sandbox } = sandboxWith(() => json({ code: 'CARD_DECLINED', message: 'declined' }, 402));
    const error = await sandbox
      .pay({ target: 'wx1', openid: 'o', sessionKey, deviceFingerprint: 'd' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZhifuApiError);
    expect(error).toMatchObject({ code: 'CARD_DECLINED', httpStatus: 402, message: 'declined' });
  });

  it('checks its options', () => {
    expect(() => new SandboxClient({ baseUrl: '/relative' })).toThrow(TypeError);
    expect(() => new SandboxClient({ baseUrl: 'http://x', timeoutMs: -1 })).toThrow(/timeoutMs/);
  });
});
