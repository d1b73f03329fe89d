import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import * as bills from './bills.service.ts';
import { aiEligibility, merchantEligibility, setAiEligibilityGrant } from './eligibility.service.ts';
import { checkMonth, conversationTiers, setConversationTiers, usageOf } from './metering.service.ts';
import { chinaMonth } from './periods.ts';
import type { ConversationTier } from './prices.ts';
import { statement, statementCsv } from './statements.service.ts';

const merchant = { auth: 'merchant' } as const;
const operator = { auth: 'operator' } as const;
const tags = ['billing'];
const billDate = { type: 'string', minLength: 10, maxLength: 10 } as const;

/** `billDownloadUrl`: base of the bills' `download_url` (default: the public URL, read per request). */
export function billingRoutes(app: FastifyInstance, ctx: Ctx, billDownloadUrl?: string): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;

  app.get<{ Querystring: { month?: string } }>(
    '/v1/billing/usage',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'Metered AI usage of a month (default: the current one), per kind and unit price',
        querystring: { type: 'object', properties: { month: { type: 'string', maxLength: 7 } } },
      },
    },
    (req) => {
      const now = ctx.clock.now();
      const month = checkMonth(req.query.month ?? chinaMonth(now), now, 'month', 'query');
      return usageOf(ctx.db, mchid(req), month);
    },
  );

  app.get<{ Params: { month: string } }>(
    '/v1/billing/statements/:month',
    {
      config: merchant,
      schema: {
        tags,
        summary:
          'Monthly statement: /v1/billing/statements/YYYY-MM (JSON) or YYYY-MM.csv (CSV, UTF-8 with BOM)',
        params: { type: 'object', properties: { month: { type: 'string', maxLength: 11 } } },
      },
    },
    async (req, reply) => {
      const now = ctx.clock.now();
      const asCsv = req.params.month.endsWith('.csv');
      const month = checkMonth(
        asCsv ? req.params.month.slice(0, -4) : req.params.month,
        now,
        'month',
        'path',
      );
      const s = await statement(ctx.db, mchid(req), month, now);
      if (!asCsv) return s;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="zhifu-statement-${s.mchid}-${month}.csv"`)
        .send(statementCsv(s));
    },
  );

  app.get(
    '/v1/billing/eligibility',
    {
      config: merchant,
      schema: { tags, summary: 'Whether this merchant may use the AI endpoints, and why' },
    },
    (req) => aiEligibility(ctx.db, mchid(req), ctx.clock.now()),
  );

  app.get<{
    Querystring: {
      bill_date: string;
      bill_type?: bills.TradeBillType | (typeof bills.absent_trade_bill_types)[number];
      tar_type?: 'GZIP';
    };
  }>(
    '/v3/bill/tradebill',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'APIv3 trade bill of a day: hash and a 5-minute download_url',
        querystring: {
          type: 'object',
          required: ['bill_date'],
          properties: {
            bill_date: billDate,
            bill_type: {
              type: 'string',
              enum: ['ALL', 'SUCCESS', 'REFUND', ...bills.absent_trade_bill_types],
            },
            tar_type: { type: 'string', enum: ['GZIP'] },
          },
        },
      },
    },
    (req) =>
      bills.requestBill(ctx, mchid(req), billDownloadUrl ?? ctx.publicUrl, {
        kind: 'trade',
        bill_date: req.query.bill_date,
        type: req.query.bill_type ?? 'ALL',
        tar_type: req.query.tar_type,
      }),
  );

  app.get<{ Querystring: { bill_date: string; account_type?: bills.FundAccountType; tar_type?: 'GZIP' } }>(
    '/v3/bill/fundflowbill',
    {
      config: { ...merchant, rateLimit: 'fundflow_bill' },
      schema: {
        tags,
        summary: 'APIv3 fund-flow bill of a day: hash and a 5-minute download_url',
        querystring: {
          type: 'object',
          required: ['bill_date'],
          properties: {
            bill_date: billDate,
            account_type: { type: 'string', enum: ['BASIC', 'OPERATION', 'FEES', 'ALL'] },
            tar_type: { type: 'string', enum: ['GZIP'] },
          },
        },
      },
    },
    (req) =>
      bills.requestBill(ctx, mchid(req), billDownloadUrl ?? ctx.publicUrl, {
        kind: 'fundflow',
        bill_date: req.query.bill_date,
        type: req.query.account_type ?? 'BASIC',
        tar_type: req.query.tar_type,
      }),
  );

  app.get<{ Querystring: { token: string } }>(
    '/v3/billdownload/file',
    {
      // The file itself is not signed (reference §3.5); clients skip verification for this path.
      config: { ...merchant, unsignedResponse: true },
      schema: {
        tags,
        summary: 'Download a bill (signed request, unsigned response)',
        querystring: {
          type: 'object',
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 64 }, tartype: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const file = await bills.downloadBill(ctx, mchid(req), req.query.token);
      return reply.type(file.contentType).send(file.body);
    },
  );

  const mchidParam = {
    type: 'object',
    properties: { mchid: { type: 'string', minLength: 1, maxLength: 32 } },
  } as const;

  app.get<{ Params: { mchid: string } }>(
    '/v1/operator/merchants/:mchid/ai-eligibility',
    {
      config: operator,
      schema: { tags, summary: "Operator: a merchant's AI eligibility", params: mchidParam },
    },
    (req) => merchantEligibility(ctx, req.params.mchid),
  );

  app.post<{ Params: { mchid: string }; Body: { granted: boolean; reason: string; operator?: string } }>(
    '/v1/operator/merchants/:mchid/ai-eligibility',
    {
      config: operator,
      schema: {
        tags,
        summary: 'Operator: grant or withdraw AI eligibility (audited)',
        params: mchidParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['granted', 'reason'],
          properties: {
            granted: { type: 'boolean' },
            reason: { type: 'string', minLength: 1, maxLength: 256 },
            operator: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
      },
    },
    (req) =>
      setAiEligibilityGrant(ctx, {
        mchid: req.params.mchid,
        granted: req.body.granted,
        reason: req.body.reason,
        actor: req.body.operator ? `operator:${req.body.operator}` : 'operator',
      }),
  );

  app.get(
    '/v1/operator/billing/conversation-tiers',
    { config: operator, schema: { tags, summary: 'Operator: conversation price tiers' } },
    async () => ({ tiers: await conversationTiers(ctx.db) }),
  );

  app.put<{ Body: { tiers: ConversationTier[]; operator?: string } }>(
    '/v1/operator/billing/conversation-tiers',
    {
      config: operator,
      schema: {
        tags,
        summary:
          'Operator: replace the conversation price tiers (applies to conversations metered from now on)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['tiers'],
          properties: {
            tiers: {
              type: 'array',
              minItems: 1,
              maxItems: 10,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['up_to', 'unit_price_fen'],
                properties: {
                  up_to: { type: ['integer', 'null'], minimum: 1 },
                  unit_price_fen: { type: 'integer', minimum: 0 },
                },
              },
            },
            operator: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
      },
    },
    async (req) => {
      const actor = req.body.operator ? `operator:${req.body.operator}` : 'operator';
      await setConversationTiers(ctx, actor, req.body.tiers);
      return { tiers: await conversationTiers(ctx.db) };
    },
  );
}
