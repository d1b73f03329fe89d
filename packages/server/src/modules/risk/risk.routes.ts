import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import { parseRfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import { risk_batch_body_bytes_max } from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import { parseIdempotencyKey } from '../idempotency/index.ts';
import {
  assessmentItemSchema,
  backtestSchema,
  batchSchema,
  labelSchema,
  listSchema,
  ruleSchemaBody,
  settingsSchema,
} from './risk.schemas.ts';
import * as risk from './risk.service.ts';

const merchant = { auth: 'merchant' } as const;
const tags = ['risk'];
const idParam = (name: string) => ({
  type: 'object',
  properties: { [name]: { type: 'string', maxLength: 64 } },
});

export function riskRoutes(app: FastifyInstance, ctx: Ctx, deps: risk.RiskDeps): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;
  // Every Fraud Shield endpoint is an AI feature: merchants below the volume threshold are refused
  // (docs/billing.md). The checks inside payments and refunds do not pass through here.
  const gate = billing.aiGate(ctx);

  app.post<{ Body: risk.AssessItem }>(
    '/v1/risk/assessments',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'Assess one payment or refund (synchronous; optional Idempotency-Key header)',
        body: assessmentItemSchema,
      },
    },
    (req) =>
      risk.assess(ctx, deps, mchid(req), req.body, parseIdempotencyKey(req.headers['idempotency-key'])),
  );

  app.post<{ Body: { items: risk.AssessItem[] } }>(
    '/v1/risk/assessments/batch',
    {
      config: merchant,
      preValidation: gate,
      bodyLimit: risk_batch_body_bytes_max,
      schema: {
        tags,
        summary: 'Assess up to 10,000 items; results within 2 seconds (202, then GET)',
        body: batchSchema,
      },
    },
    async (req, reply) => reply.code(202).send(await risk.submitBatch(ctx, deps, mchid(req), req.body.items)),
  );

  app.get<{ Params: { assessment_id: string } }>(
    '/v1/risk/assessments/:assessment_id',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'An assessment by id', params: idParam('assessment_id') },
    },
    (req) => risk.getAssessment(ctx, mchid(req), req.params.assessment_id),
  );

  app.get<{ Params: { batch_id: string } }>(
    '/v1/risk/batches/:batch_id',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'A batch: status, and results once completed', params: idParam('batch_id') },
    },
    (req) => risk.getBatch(ctx, mchid(req), req.params.batch_id),
  );

  app.post<{ Body: { assessment_id?: string; out_trade_no?: string; label: risk.Label } }>(
    '/v1/risk/labels',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Feed back a label (fraud, chargeback, legitimate)', body: labelSchema },
    },
    (req) => risk.label(ctx, mchid(req), req.body),
  );

  app.post<{ Body: { rule: string } }>(
    '/v1/risk/rules',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Add a rule (errors carry the position)', body: ruleSchemaBody },
    },
    async (req, reply) => reply.code(201).send(await risk.addRule(ctx, mchid(req), req.body.rule)),
  );

  app.get(
    '/v1/risk/rules',
    { config: merchant, preValidation: gate, schema: { tags, summary: "The merchant's rules" } },
    (req) => risk.listRules(ctx, mchid(req)),
  );

  app.delete<{ Params: { rule_id: string } }>(
    '/v1/risk/rules/:rule_id',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Delete a rule (204)', params: idParam('rule_id') },
    },
    async (req, reply) => {
      await risk.deleteRule(ctx, mchid(req), req.params.rule_id);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { rule: string; since?: string } }>(
    '/v1/risk/rules/backtest',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Run a rule over stored assessments and labels', body: backtestSchema },
    },
    (req) => {
      let since = 0;
      if (req.body.since !== undefined) {
        const parsed = parseRfc3339(req.body.since);
        if (parsed === undefined)
          fail('invalid_parameter', {
            field: '/since',
            value: req.body.since,
            issue: 'not RFC 3339',
            location: 'body',
          });
        since = parsed;
      }
      return risk.backtest(ctx, mchid(req), req.body.rule, since);
    },
  );

  app.put<{ Params: { name: string }; Body: { values: string[] } }>(
    '/v1/risk/lists/:name',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'Create or replace a named allow/block list (used in rules as @name)',
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' } },
        },
        body: listSchema,
      },
    },
    (req) => risk.putList(ctx, mchid(req), req.params.name, req.body.values),
  );

  app.put<{ Body: { review_threshold: number; block_threshold: number } }>(
    '/v1/risk/settings',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Set the review and block thresholds (0–100)', body: settingsSchema },
    },
    async (req) => {
      const t = await risk.setThresholds(ctx, mchid(req), {
        review: req.body.review_threshold,
        block: req.body.block_threshold,
      });
      return { review_threshold: t.review, block_threshold: t.block };
    },
  );
}
