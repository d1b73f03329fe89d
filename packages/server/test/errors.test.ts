import { readFileSync } from 'node:fs';
import { errorCodes } from '@zhifu/sdk';
import { describe, expect, it } from 'vitest';
import { catalog, wireCodes } from '../src/lib/errors.ts';

describe('the error catalog', () => {
  it('every wire code is exported from the SDK, and the SDK lists no code the server never sends', () => {
    expect([...errorCodes]).toEqual(wireCodes());
  });

  it('every code and reason is documented in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const [reason, entry] of Object.entries(catalog)) {
      expect(doc, `docs/errors.md lacks ${entry.code}`).toContain(entry.code);
      expect(doc, `docs/errors.md lacks ${reason}`).toContain(reason);
    }
  });

  it('statuses are the APIv3 ones for the codes APIv3 defines (reference §4)', () => {
    const apiv3: Record<string, number> = {
      SIGN_ERROR: 401,
      OUT_TRADE_NO_USED: 403,
      ORDER_NOT_EXIST: 404,
      RESOURCE_NOT_EXISTS: 404,
      APPID_MCHID_NOT_MATCH: 400,
      ORDER_CLOSED: 400,
      NOT_ENOUGH: 403,
      TRADE_ERROR: 403,
      FREQUENCY_LIMITED: 429,
      SYSTEM_ERROR: 500,
    };
    for (const entry of Object.values(catalog)) {
      if (apiv3[entry.code] !== undefined) expect(entry.http, entry.code).toBe(apiv3[entry.code]);
    }
  });
});
