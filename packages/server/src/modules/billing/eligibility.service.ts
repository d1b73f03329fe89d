/**
 * Eligibility for AI features (DESIGN.md "Billing"): a merchant needs 10,000 CNY of transaction
 * volume — captured payments whose capture falls in the trailing 30 days, minus refunds that
 * succeeded in the same 30 days (never below 0) — or an operator's explicit grant (audited). The
 * gate answers AI endpoints with AI_NOT_ELIGIBLE, stating the volume and the threshold. Fraud Shield
 * checks inside payments and refunds are the platform's own safety and are never gated.
 */
import type { FastifyRequest } from 'fastify';
import type { Ctx } from '../../context.ts';
import type { Db, Executor } from '../../db/database.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import {
  ai_eligibility_cache_ms,
  ai_eligibility_volume_fen_min,
  ai_eligibility_window_ms,
} from '../../lib/limits.ts';
import { yuan } from '../../lib/money.ts';
import * as audit from '../audit/index.ts';
import * as merchants from '../merchants/index.ts';
import * as repo from './billing.repository.ts';

export const eligibility_window = 'trailing 30 days of captured payments, net of refunds';

export interface AiEligibility {
  mchid: string;
  eligible: boolean;
  volume_fen: number;
  threshold_fen: number;
  window: string;
  window_start: string;
  window_end: string;
  granted_by_operator: boolean;
  grant?: { granted: boolean; reason: string; actor: string; updated_at: string };
}

export async function aiEligibility(db: Executor, mchid: string, now: number): Promise<AiEligibility> {
  const start = now - ai_eligibility_window_ms;
  // `now` itself is inside the window: a payment captured this millisecond counts.
  const [captured, refunded, grant] = await Promise.all([
    repo.capturedInRange(db, mchid, start, now + 1),
    repo.refundedInRange(db, mchid, start, now + 1),
    repo.findGrant(db, mchid),
  ]);
  const volume = Math.max(0, Number(captured.amount ?? 0) - Number(refunded.amount ?? 0));
  const granted = grant?.granted === 1;
  return {
    mchid,
    eligible: granted || volume >= ai_eligibility_volume_fen_min,
    volume_fen: volume,
    threshold_fen: ai_eligibility_volume_fen_min,
    window: eligibility_window,
    window_start: rfc3339(start),
    window_end: rfc3339(now),
    granted_by_operator: granted,
    ...(grant
      ? {
          grant: {
            granted,
            reason: grant.reason,
            actor: grant.actor,
            updated_at: rfc3339(Number(grant.updated_at)),
          },
        }
      : {}),
  };
}

/** The operator's view of one merchant's eligibility (MCH_NOT_EXISTS for an unknown mchid). */
export async function merchantEligibility(ctx: Ctx, mchid: string): Promise<AiEligibility> {
  if (!(await merchants.findMerchant(ctx.db, mchid)))
    fail('merchant_unknown', { field: 'mchid', value: mchid, location: 'path' });
  return aiEligibility(ctx.db, mchid, ctx.clock.now());
}

// Eligible merchants, per database (one process may serve several, e.g. tests): mchid → valid until.
const eligibleUntil = new WeakMap<Db, Map<string, number>>();

function cacheOf(db: Db): Map<string, number> {
  let cache = eligibleUntil.get(db);
  if (!cache) {
    cache = new Map();
    eligibleUntil.set(db, cache);
  }
  return cache;
}

/** Refuses with AI_NOT_ELIGIBLE (volume and threshold in the message) unless `mchid` is eligible. */
export async function requireAiEligibility(ctx: Ctx, mchid: string): Promise<void> {
  const now = ctx.clock.now();
  const cache = cacheOf(ctx.db);
  const until = cache.get(mchid);
  if (until !== undefined && now < until) return;
  const e = await aiEligibility(ctx.db, mchid, now);
  if (e.eligible) {
    cache.set(mchid, now + ai_eligibility_cache_ms);
    return;
  }
  cache.delete(mchid);
  fail(
    'ai_not_eligible',
    undefined,
    `Current volume: ${yuan(e.volume_fen)} CNY (${e.window}); threshold: ${yuan(e.threshold_fen)} CNY.`,
  );
}

/** A route hook (after authentication) that gates an AI endpoint. */
export function aiGate(ctx: Ctx): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const mchid = request.merchant?.keys.mchid;
    // Only merchant-authenticated routes are gated; authentication has already refused the rest.
    if (mchid !== undefined) await requireAiEligibility(ctx, mchid);
  };
}

export interface GrantInput {
  mchid: string;
  granted: boolean;
  reason: string;
  /** Who acted, as recorded in the grant row and the audit log. */
  actor: string;
}

/**
 * An operator grants (or withdraws a grant of) AI eligibility. The grant row and its audit entry
 * commit together. Withdrawing a grant leaves the merchant to the volume rule.
 */
export async function setAiEligibilityGrant(ctx: Ctx, g: GrantInput): Promise<AiEligibility> {
  if (!(await merchants.findMerchant(ctx.db, g.mchid)))
    fail('merchant_unknown', { field: 'mchid', value: g.mchid, location: 'path' });
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await repo.upsertGrant(trx, {
      mchid: g.mchid,
      granted: g.granted ? 1 : 0,
      reason: g.reason,
      actor: g.actor,
      updated_at: now,
    });
    // The one audit call site of billing: every operator action is in the tamper-evident log.
    await audit.record(ctx, trx, {
      actor: g.actor,
      action: g.granted ? 'billing.ai_eligibility.grant' : 'billing.ai_eligibility.revoke',
      target: `merchant:${g.mchid}`,
      detail: { reason: g.reason },
    });
  });
  cacheOf(ctx.db).delete(g.mchid);
  return aiEligibility(ctx.db, g.mchid, now);
}

/**
 * Writes a grant row without an audit entry: only for test harnesses and fixtures that set up a
 * merchant before any operator exists. Production grants go through setAiEligibilityGrant.
 */
export async function insertGrantForFixture(
  db: Db,
  mchid: string,
  actor: string,
  now: number,
): Promise<void> {
  await repo.upsertGrant(db, { mchid, granted: 1, reason: 'fixture', actor, updated_at: now });
  cacheOf(db).delete(mchid);
}
