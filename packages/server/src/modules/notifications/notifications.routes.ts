import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import { review_window_ms_max } from '../../lib/limits.ts';
import { listCallbacks } from './callbacks.ts';
import type { Hub } from './hub.ts';
import * as notifications from './notifications.service.ts';

const merchant = { auth: 'merchant' } as const;
const tags = ['notifications'];

export function notificationRoutes(app: FastifyInstance, ctx: Ctx, hub: Hub): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;

  app.get<{ Querystring: { after_seq?: string } }>(
    '/v1/notifications/ws',
    {
      websocket: true,
      config: merchant,
      schema: {
        tags,
        summary: 'WebSocket of signed events (handshake signed like any request; see docs/notifications.md)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after_seq: { type: 'string', pattern: '^[0-9]{1,15}$' } },
        },
      },
    },
    (socket, req) => {
      const after = req.query.after_seq === undefined ? undefined : Number(req.query.after_seq);
      // A failure while attaching (the database, the key cache) closes this socket with 1011; an
      // unhandled rejection would end the whole process.
      hub.attach(socket, mchid(req), after).catch((error: unknown) => {
        req.log.error(error);
        if (socket.readyState === socket.OPEN) socket.close(1011, 'internal error: reconnect with backoff');
      });
    },
  );

  app.get<{ Querystring: { after_seq?: string; limit?: string } }>(
    '/v1/notifications/events',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'Events after a sequence number (polling alternative to the WebSocket)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after_seq: { type: 'string', pattern: '^[0-9]{1,15}$' },
            limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
          },
        },
      },
    },
    async (req) => ({
      data: await notifications.eventsAfter(
        ctx.db,
        mchid(req),
        Number(req.query.after_seq ?? 0),
        Number(req.query.limit ?? 100),
      ),
    }),
  );

  app.get(
    '/v1/notifications/settings',
    { config: merchant, schema: { tags, summary: 'Decision mode and review window' } },
    (req) => notifications.settings(ctx.db, mchid(req)).then(view),
  );

  app.put<{ Body: { decision_mode?: notifications.DecisionMode; review_window_seconds?: number } }>(
    '/v1/notifications/settings',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'Choose auto or realtime decisions and the manual-review window',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            decision_mode: { type: 'string', enum: ['auto', 'realtime'] },
            review_window_seconds: { type: 'integer', minimum: 60, maximum: review_window_ms_max / 1000 },
          },
        },
      },
    },
    async (req) =>
      view(
        await notifications.updateSettings(ctx, mchid(req), {
          ...(req.body.decision_mode ? { decision_mode: req.body.decision_mode } : {}),
          ...(req.body.review_window_seconds
            ? { review_window_ms: req.body.review_window_seconds * 1000 }
            : {}),
        }),
      ),
  );

  app.get<{ Querystring: { ref?: string } }>(
    '/v1/notifications/callbacks',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'APIv3 callbacks and every delivery attempt (filter by out_trade_no or out_refund_no)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ref: { type: 'string', maxLength: 64 } },
        },
      },
    },
    (req) => listCallbacks(ctx, mchid(req), req.query.ref),
  );
}

function view(s: notifications.NotificationSettings) {
  return {
    decision_mode: s.decision_mode,
    review_window_seconds: s.review_window_ms / 1000,
    acked_seq: s.acked_seq,
  };
}
