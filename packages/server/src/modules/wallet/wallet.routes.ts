import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import { fail } from '../../lib/errors.ts';
import * as identity from '../identity/index.ts';
import * as merchants from '../merchants/index.ts';
import * as wallet from './wallet.service.ts';

/** Largest wallet balance a simulated payer can start with: ¥1,000,000. */
const simulated_balance_fen_max = 100_000_000;
/** Wallet balance of a simulated payer when none is given: ¥10,000. */
const simulated_balance_fen_default = 1_000_000;
/** Oldest account a simulated payer can claim: 100 years. */
const simulated_account_age_days_max = 36_500;

const cashierHtml = readFileSync(new URL('./cashier.html', import.meta.url), 'utf8');

/** The sandbox wallet's payer-side API (docs/sandbox.md) and the web cashier page. */
export function walletRoutes(app: FastifyInstance, ctx: Ctx): void {
  // HEAD too (link checkers, uptime monitors): a page, not an APIv3 route.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/cashier',
    schema: { hide: true },
    handler: (_req, reply) => reply.type('text/html; charset=utf-8').send(cashierHtml),
  });

  app.get<{ Querystring: { appid: string } }>(
    '/sandbox/v1/payers',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'Sandbox payers bound to an appid, with their OpenIDs',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['appid'],
          properties: { appid: { type: 'string', maxLength: 32 } },
        },
      },
    },
    async (req) => {
      const rows = await identity.payersOfApp(ctx.db, req.query.appid);
      return { data: rows.map((r) => ({ openid: r.openid, name: r.name, fixture: r.fixture })) };
    },
  );

  app.post<{
    Body: {
      appid: string;
      name: string;
      balance_fen?: number;
      external_ref?: string;
      account_age_days?: number;
    };
  }>(
    '/sandbox/v1/payers',
    {
      schema: {
        tags: ['sandbox'],
        summary:
          'Create a simulated payer with a funded wallet balance, bound to an appid (201; 200 on a repeat)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['appid', 'name'],
          properties: {
            appid: { type: 'string', minLength: 1, maxLength: 32 },
            name: { type: 'string', minLength: 1, maxLength: 64 },
            balance_fen: { type: 'integer', minimum: 0, maximum: simulated_balance_fen_max },
            external_ref: { type: 'string', minLength: 1, maxLength: 64 },
            account_age_days: { type: 'number', minimum: 0, maximum: simulated_account_age_days_max },
          },
        },
      },
    },
    async (req, reply) => {
      const { appid } = req.body;
      if (!(await merchants.findApp(ctx.db, appid))) {
        fail('appid_unknown', { field: '/appid', value: appid, location: 'body' });
      }
      const { payer, created } = await wallet.createSimulatedPayer(ctx, {
        appid,
        name: req.body.name,
        balance_fen: req.body.balance_fen ?? simulated_balance_fen_default,
        external_ref: req.body.external_ref,
        account_age_days: req.body.account_age_days ?? 0,
      });
      return reply.code(created ? 201 : 200).send(payer);
    },
  );

  app.get<{ Params: { openid: string } }>(
    '/sandbox/v1/payers/:openid/instruments',
    {
      schema: {
        tags: ['sandbox'],
        summary: "A sandbox payer's instruments with what each can still pay",
        params: { type: 'object', properties: { openid: { type: 'string', maxLength: 128 } } },
      },
    },
    async (req) => {
      const who = await identity.resolveOpenid(ctx.db, req.params.openid);
      if (!who) fail('payer_unknown', { field: 'openid', value: req.params.openid, location: 'path' });
      return { data: await wallet.instrumentsOf(ctx.db, who.user_id) };
    },
  );

  app.post<{ Params: { instrument_id: string }; Body: { openid: string } }>(
    '/sandbox/v1/instruments/:instrument_id/close',
    {
      schema: {
        tags: ['sandbox'],
        summary: "Close (cancel) one of a payer's instruments: refunds to it then end ABNORMAL, then CLOSED",
        params: { type: 'object', properties: { instrument_id: { type: 'string', maxLength: 64 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['openid'],
          properties: { openid: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    (req) => wallet.closeInstrument(ctx, req.body.openid, req.params.instrument_id),
  );

  app.post<{ Body: { appid: string; openid: string; device_fingerprint: string } }>(
    '/sandbox/v1/login',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'wx.login on the simulated phone: a login code and the session key',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['appid', 'openid', 'device_fingerprint'],
          properties: {
            appid: { type: 'string', minLength: 1, maxLength: 32 },
            openid: { type: 'string', minLength: 1, maxLength: 128 },
            device_fingerprint: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    (req) => identity.login(ctx, req.body),
  );

  app.get<{ Querystring: { appid?: string; secret?: string; js_code?: string; grant_type?: string } }>(
    '/sns/jscode2session',
    {
      // Answered the WeChat way even when malformed: HTTP 200 with an errcode, never PARAM_ERROR.
      attachValidation: true,
      schema: {
        tags: ['sandbox'],
        summary: 'code2Session: exchange a login code for openid and session_key (errors are 200 + errcode)',
        querystring: {
          type: 'object',
          properties: {
            appid: { type: 'string', maxLength: 32 },
            secret: { type: 'string', maxLength: 64 },
            js_code: { type: 'string', maxLength: 64 },
            grant_type: { type: 'string', maxLength: 32 },
          },
        },
      },
    },
    (req) =>
      req.validationError
        ? identity.code2sessionMalformed(req.validationError.validation[0]?.instancePath.slice(1) ?? '')
        : identity.code2session(
            ctx,
            req.query,
            async (appid) => (await merchants.findApp(ctx.db, appid))?.app_secret,
          ),
  );
}
