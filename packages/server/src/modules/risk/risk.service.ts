/**
 * AI Fraud Shield (DESIGN.md §1, issue #3): real-time and batch risk assessment of payments and
 * refunds. An assessment = the feature snapshot of the history before the event → the model
 * (gradient-boosted trees over the features plus an isolation-forest anomaly score) → a 0–100
 * score with the features that pushed it up → the merchant's rules and thresholds → an action.
 * Every assessment is stored with its features (for backtesting rules and retraining) and a
 * billing kind (issue #6 meters them).
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import type { RiskAssessmentsTable, RiskBatchesTable } from '../../db/schema.ts';
import { assert } from '../../lib/assert.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import {
  backtest_rows_max,
  risk_batch_items_max,
  risk_batch_stale_ms,
  risk_batch_window_ms,
  risk_failed_batch_cleanup_ms,
  risk_rules_per_merchant_max,
} from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import {
  canonicalJson,
  claimIdempotencyKey,
  findIdempotencyKey,
  idempotencyKeyReused,
  requestHash,
} from '../idempotency/index.ts';
import * as identity from '../identity/index.ts';
import * as merchants from '../merchants/index.ts';
import * as notifications from '../notifications/index.ts';
import * as wallet from '../wallet/index.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import type { Outcome } from './feature-store.ts';
import { featureNames, featureRecord, featurize, type RiskEvent } from './features.ts';
import type { BatchScorer, StoredItem } from './risk.batch.ts';
import * as repo from './risk.repository.ts';
import { type Action, defaultThresholds, levelOf, type RiskModel, type Thresholds } from './risk-model.ts';
import { type CompiledRule, compileRule, evaluateRules, RuleSyntaxError } from './rules/index.ts';

export type BillingKind = 'risk' | 'risk_batch';

export interface Reason {
  feature: string;
  value: number;
  contribution: number;
}

export interface Assessment {
  assessment_id: string;
  risk_score: number;
  risk_level: string;
  suggested_action: Action;
  reasons: Reason[];
  rules_matched: string[];
  model_version: string;
  created_at: string;
}

/** Context attributes rules can use besides the numeric features (docs/rules.md). */
export const ruleSchema: Record<string, 'number' | 'string' | 'boolean'> = {
  risk_score: 'number',
  amount: 'number',
  type: 'string',
  ip: 'string',
  ip_country: 'string',
  ip_region: 'string',
  mcc: 'string',
  device_id: 'string',
  instrument_id: 'string',
  payer_id: 'string',
  openid: 'string',
};

/**
 * Deterministic sandbox fixture (docs/sandbox.md): a device fingerprint starting with this prefix
 * always scores 99, so demos and tests can show a block without crafting fraud.
 */
export const fraud_device_prefix = 'sandbox-fraud-device';

export interface RiskDeps {
  model: RiskModel;
  batch: BatchScorer;
  /** Told after a commit that events were written (the WebSocket hub); set by buildApp. */
  publish?: (mchid: string, events: notifications.ZhifuEvent[]) => void;
}

/** What the Fraud Shield needs of a merchant besides the history: thresholds, rules and lists. */
export interface MerchantPolicy {
  thresholds: Thresholds;
  rules: CompiledRule[];
  lists: Record<string, ReadonlySet<string | number>>;
}

export interface Evaluation {
  riskScore: number;
  reasons: Reason[];
  action: Action;
  matched: string[];
  context: Record<string, number | string>;
}

/**
 * How long a merchant's policy is reused without reading it again. Writes through this module
 * (rules, lists, thresholds) drop the cached copy at once; the TTL bounds how long another server
 * process sharing the database (PostgreSQL, several nodes) may score with the previous policy.
 */
export const policy_cache_ms = 1_000;

interface CachedPolicy {
  at: number;
  policy: Promise<MerchantPolicy>;
}
/** Per database handle (tests open several), per merchant. */
const policyCache = new WeakMap<object, Map<string, CachedPolicy>>();

/** The merchant's policy from the cache (see policy_cache_ms), read once when missing or stale. */
export function cachedPolicyOf(db: Executor, mchid: string): Promise<MerchantPolicy> {
  let perDb = policyCache.get(db);
  if (!perDb) {
    perDb = new Map();
    policyCache.set(db, perDb);
  }
  const now = performance.now();
  const hit = perDb.get(mchid);
  if (hit && now - hit.at < policy_cache_ms) return hit.policy;
  const policy = policyOf(db, mchid);
  const entry = { at: now, policy };
  perDb.set(mchid, entry);
  // A failed read is not cached.
  policy.catch(() => {
    if (perDb.get(mchid) === entry) perDb.delete(mchid);
  });
  return policy;
}

/** Drops the cached policy of `mchid` (after a write to its rules, lists or thresholds). */
export function invalidatePolicy(db: Executor, mchid: string): void {
  policyCache.get(db)?.delete(mchid);
}

export async function policyOf(db: Executor, mchid: string): Promise<MerchantPolicy> {
  const [settings, rules, lists] = await Promise.all([
    repo.settingsOf(db, mchid),
    compiledRules(db, mchid),
    listsOf(db, mchid),
  ]);
  return {
    thresholds: settings
      ? { review: settings.review_threshold, block: settings.block_threshold }
      : defaultThresholds,
    rules,
    lists,
  };
}

/** Model, sandbox fixture, thresholds and rules over one event's vector: the pure part of an assessment. */
export function evaluate(
  model: RiskModel,
  e: RiskEvent,
  openid: string,
  vector: Float64Array,
  policy: MerchantPolicy,
): Evaluation {
  const result = model.score(vector);
  let riskScore = result.score;
  const reasons = result.reasons;
  if (e.device_id.startsWith(fraud_device_prefix)) {
    riskScore = Math.max(riskScore, 99);
    reasons.unshift({ feature: 'sandbox_fraud_device', value: 1, contribution: 99 });
  }
  // One object built in place (the features, then the other attributes rules can use).
  const context: Record<string, number | string> = featureRecord(vector);
  context.anomaly_score = result.anomaly;
  context.risk_score = riskScore;
  context.amount = e.amount_fen;
  context.type = e.type;
  context.ip = e.ip;
  context.ip_country = e.ip_country;
  context.ip_region = e.ip_region;
  context.mcc = e.mcc;
  context.device_id = e.device_id;
  context.instrument_id = e.instrument_id;
  context.payer_id = e.payer_id;
  context.openid = openid;
  const verdict = evaluateRules(policy.rules, context, policy.lists);
  const t = policy.thresholds;
  let action: Action = riskScore >= t.block ? 'block' : riskScore >= t.review ? 'review' : 'approve';
  if (verdict.action === 'allow') action = 'approve';
  else if (verdict.action === 'block') action = 'block';
  else if (verdict.action === 'review' && action === 'approve') action = 'review';
  return { riskScore, reasons: reasons.slice(0, 5), action, matched: verdict.matched, context };
}

export interface Scored {
  assessment: Assessment;
  row: RiskAssessmentsTable;
}

export interface ScoreInput {
  mchid: string;
  e: RiskEvent;
  openid: string;
  ref: string | null;
  billing: BillingKind;
}

export function assemble(
  ctx: Ctx,
  model: RiskModel,
  input: ScoreInput,
  ev: Evaluation,
  thresholds: Thresholds,
): Scored {
  const now = ctx.clock.now();
  const assessment: Assessment = {
    assessment_id: prefixed(ctx.ids, 'ra'),
    risk_score: ev.riskScore,
    risk_level: levelOf(ev.riskScore, thresholds),
    suggested_action: ev.action,
    reasons: ev.reasons,
    rules_matched: ev.matched,
    model_version: model.version,
    created_at: rfc3339(now),
  };
  return {
    assessment,
    row: {
      id: assessment.assessment_id,
      mchid: input.mchid,
      kind: input.e.type,
      event_id: input.e.id,
      ref: input.ref,
      batch_id: null, // batch rows are built by the workers (risk.batch.ts)
      risk_score: ev.riskScore,
      risk_level: assessment.risk_level,
      suggested_action: ev.action,
      reasons_json: JSON.stringify(ev.reasons),
      rules_matched_json: JSON.stringify(ev.matched),
      model_version: model.version,
      features_json: JSON.stringify(ev.context),
      label: null,
      labelled_at: null,
      billing_kind: input.billing,
      created_at: now,
    },
  };
}

/** Scores `e` for merchant `mchid` against the history (nothing is written). */
export async function score(
  ctx: Ctx,
  deps: Pick<RiskDeps, 'model'>,
  db: Executor,
  input: ScoreInput,
): Promise<Scored> {
  // Inside a caller's transaction the policy is read in it; otherwise the cached copy is used.
  const [snapshot, policy] = await Promise.all([
    new SqlFeatureStore(db).snapshot(input.e),
    db === ctx.db ? cachedPolicyOf(db, input.mchid) : policyOf(db, input.mchid),
  ]);
  const ev = evaluate(deps.model, input.e, input.openid, featurize(input.e, snapshot), policy);
  return assemble(ctx, deps.model, input, ev, policy.thresholds);
}

/**
 * The device and network a paid order was confirmed from, and when (refunds are judged in that
 * context: pass `ts` as the refund event's `refund_of_ts`). The payment's event id is
 * `pay:<order id>:<random>`; a prefix match alone (`like`) uses no index on either database (SQLite's
 * case-insensitive LIKE, PostgreSQL's non-C collations) and scanned the whole history on every
 * refund, so the payer's own events since the order was created are searched (their index range).
 */
export async function paymentContext(
  db: Executor,
  order: { id: string; created_at: number },
  payerId: string,
): Promise<{ device_id: string; ip: string; ts: number } | undefined> {
  return repo.paidEventOfPayer(db, payerId, order.created_at, `pay:${order.id}:%`);
}

/** Adds an event to the history without an assessment (e.g. a payment the bank declined). */
export async function recordOnly(trx: Executor, e: RiskEvent, outcome: Outcome): Promise<void> {
  await new SqlFeatureStore(trx).record(e, outcome);
}

/** Stores an assessment and records its event in the history, in the caller's transaction. */
export async function commit(trx: Executor, scored: Scored, e: RiskEvent, outcome: Outcome): Promise<void> {
  await repo.insertAssessments(trx, [scored.row]);
  await new SqlFeatureStore(trx).record(e, outcome);
}

// Compiled rules are cached per merchant and invalidated when the merchant's rules change.
const ruleCache = new Map<string, { key: string; rules: CompiledRule[] }>();

async function compiledRules(db: Executor, mchid: string): Promise<CompiledRule[]> {
  const rows = await repo.rulesOf(db, mchid);
  const key = rows.map((r) => r.id).join(',');
  const hit = ruleCache.get(mchid);
  if (hit && hit.key === key) return hit.rules;
  const rules = rows.map((r) => compileRule(r.source, ruleSchemaWithFeatures()));
  ruleCache.set(mchid, { key, rules });
  return rules;
}

async function listsOf(db: Executor, mchid: string): Promise<Record<string, ReadonlySet<string | number>>> {
  const rows = await repo.listsOf(db, mchid);
  return Object.fromEntries(rows.map((r) => [r.name, new Set(JSON.parse(r.values_json) as string[])]));
}

let fullSchema: Record<string, 'number' | 'string' | 'boolean'> | undefined;
export function ruleSchemaWithFeatures(): Record<string, 'number' | 'string' | 'boolean'> {
  if (!fullSchema) {
    fullSchema = { ...ruleSchema, anomaly_score: 'number' };
    for (const name of featureNames) fullSchema[name] = 'number';
  }
  return fullSchema;
}

export function parseRule(source: string): CompiledRule {
  try {
    return compileRule(source, ruleSchemaWithFeatures());
  } catch (error) {
    if (error instanceof RuleSyntaxError) {
      fail('risk_rule_invalid', { field: '/rule', value: source, issue: error.message, location: 'body' });
    }
    throw error;
  }
}

export async function addRule(ctx: Ctx, mchid: string, source: string) {
  const rule = parseRule(source);
  const existing = await repo.rulesOf(ctx.db, mchid);
  if (existing.length >= risk_rules_per_merchant_max) fail('risk_rule_limit');
  const row = {
    id: prefixed(ctx.ids, 'rule'),
    mchid,
    source: rule.source,
    action: rule.action,
    created_at: ctx.clock.now(),
  };
  await repo.insertRule(ctx.db, row);
  invalidatePolicy(ctx.db, mchid);
  return ruleView(row);
}

export const ruleView = (r: { id: string; source: string; action: string; created_at: number }) => ({
  rule_id: r.id,
  rule: r.source,
  action: r.action,
  created_at: r.created_at,
});

export async function listRules(ctx: Ctx, mchid: string) {
  return { data: (await repo.rulesOf(ctx.db, mchid)).map(ruleView) };
}

export async function deleteRule(ctx: Ctx, mchid: string, id: string): Promise<void> {
  const deleted = await repo.deleteRule(ctx.db, mchid, id);
  invalidatePolicy(ctx.db, mchid);
  if (!deleted) fail('risk_rule_unknown', { field: 'rule_id', value: id, location: 'path' });
}

export interface BacktestResult {
  rule: string;
  action: string;
  assessments: number;
  labelled_fraud: number;
  hits: number;
  hits_labelled_fraud: number;
  hits_labelled_legitimate: number;
  precision: number | null;
  recall: number | null;
}

/** Runs a rule over the merchant's stored assessments (their features at the time) and labels. */
export async function backtest(
  ctx: Ctx,
  mchid: string,
  source: string,
  sinceMs: number,
): Promise<BacktestResult> {
  const rule = parseRule(source);
  const rows = await repo.history(ctx.db, mchid, sinceMs, backtest_rows_max);
  const lists = await listsOf(ctx.db, mchid);
  let hits = 0;
  let hitsFraud = 0;
  let hitsLegit = 0;
  let fraud = 0;
  for (const r of rows) {
    const isFraud = r.label === 'fraud' || r.label === 'chargeback';
    if (isFraud) fraud++;
    if (!rule.evaluate(JSON.parse(r.features_json) as Record<string, number | string>, lists)) continue;
    hits++;
    if (isFraud) hitsFraud++;
    else if (r.label === 'legitimate') hitsLegit++;
  }
  return {
    rule: rule.source,
    action: rule.action,
    assessments: rows.length,
    labelled_fraud: fraud,
    hits,
    hits_labelled_fraud: hitsFraud,
    hits_labelled_legitimate: hitsLegit,
    precision: hits > 0 ? hitsFraud / hits : null,
    recall: fraud > 0 ? hitsFraud / fraud : null,
  };
}

export type Label = 'fraud' | 'chargeback' | 'legitimate';

export async function label(
  ctx: Ctx,
  mchid: string,
  input: { assessment_id?: string; out_trade_no?: string; label: Label },
): Promise<{ labelled: number }> {
  const now = ctx.clock.now();
  if (input.assessment_id !== undefined) {
    if (!(await repo.labelAssessment(ctx.db, mchid, input.assessment_id, input.label, now))) {
      fail('risk_assessment_unknown', {
        field: '/assessment_id',
        value: input.assessment_id,
        location: 'body',
      });
    }
    return { labelled: 1 };
  }
  const n = await repo.labelByRef(ctx.db, mchid, input.out_trade_no!, input.label, now);
  if (n === 0)
    fail('risk_assessment_unknown', { field: '/out_trade_no', value: input.out_trade_no, location: 'body' });
  return { labelled: n };
}

export async function setThresholds(ctx: Ctx, mchid: string, t: Thresholds): Promise<Thresholds> {
  if (!(t.review <= t.block))
    fail('invalid_parameter', {
      field: '/review_threshold',
      issue: 'must be ≤ block_threshold',
      location: 'body',
    });
  await repo.upsertSettings(ctx.db, mchid, t.review, t.block, ctx.clock.now());
  invalidatePolicy(ctx.db, mchid);
  return t;
}

export async function putList(ctx: Ctx, mchid: string, name: string, values: string[]) {
  await repo.upsertList(ctx.db, mchid, name, values, ctx.clock.now());
  invalidatePolicy(ctx.db, mchid);
  return { name, values };
}

export async function getAssessment(
  ctx: Ctx,
  mchid: string,
  id: string,
): Promise<Assessment & { label: string | null }> {
  const r = await repo.findAssessment(ctx.db, mchid, id);
  if (!r) fail('risk_assessment_unknown', { field: 'assessment_id', value: id, location: 'path' });
  return rowView(r);
}

export function rowView(
  r: Pick<
    RiskAssessmentsTable,
    | 'id'
    | 'risk_score'
    | 'risk_level'
    | 'suggested_action'
    | 'reasons_json'
    | 'rules_matched_json'
    | 'model_version'
    | 'created_at'
    | 'label'
  >,
) {
  return {
    assessment_id: r.id,
    risk_score: r.risk_score,
    risk_level: r.risk_level,
    suggested_action: r.suggested_action as Action,
    reasons: JSON.parse(r.reasons_json) as Reason[],
    rules_matched: JSON.parse(r.rules_matched_json) as string[],
    model_version: r.model_version,
    created_at: rfc3339(r.created_at),
    label: r.label,
  };
}

export interface AssessItem {
  type: 'payment' | 'refund';
  payer: { openid: string };
  amount: { total: number; currency?: string; original_total?: number };
  device_fingerprint: string;
  ip: string;
  ip_country?: string;
  ip_region?: string;
  instrument_id?: string;
  mcc?: string;
  out_trade_no?: string;
  promotion_id?: string;
}

/**
 * Turns an API item into a feature-store event: the payer must be a known OpenID of one of this
 * merchant's apps (merchants never reach each other's payers), the instrument one of the payer's.
 */
export async function eventOf(
  ctx: Ctx,
  mchid: string,
  item: AssessItem,
  id: string,
  pointer = '',
  lookups?: Map<string, Promise<unknown>>,
): Promise<ScoreInput> {
  // A batch passes one `lookups` map for all its items: each payer, app, instrument and the
  // merchant are read once per batch, not once per item.
  const once = <T>(key: string, read: () => Promise<T>): Promise<T> => {
    if (!lookups) return read();
    let hit = lookups.get(key) as Promise<T> | undefined;
    if (!hit) {
      hit = read();
      lookups.set(key, hit);
    }
    return hit;
  };
  const who = await once(`o:${item.payer.openid}`, () => identity.resolveOpenid(ctx.db, item.payer.openid));
  const app = who ? await once(`a:${who.appid}`, () => merchants.findApp(ctx.db, who.appid)) : undefined;
  if (!who || app?.mchid !== mchid) {
    fail('payer_unknown', { field: `${pointer}/payer/openid`, value: item.payer.openid, location: 'body' });
  }
  const payer = await once(`u:${who.user_id}`, () => wallet.payerById(ctx.db, who.user_id));
  let instrumentCreated = payer!.created_at;
  if (item.instrument_id !== undefined) {
    const instrumentId = item.instrument_id;
    const ins = await once(`i:${instrumentId}`, () => wallet.instrumentById(ctx.db, instrumentId));
    if (ins?.user_id !== who.user_id) {
      fail('instrument_unknown', {
        field: `${pointer}/instrument_id`,
        value: item.instrument_id,
        location: 'body',
      });
    }
    instrumentCreated = ins.created_at;
  }
  const merchant = await once(`m:${mchid}`, () => merchants.findMerchant(ctx.db, mchid));
  const e: RiskEvent = {
    id,
    ts: ctx.clock.now(),
    type: item.type,
    payer_id: who.user_id,
    merchant_id: mchid,
    mcc: item.mcc ?? merchant!.mcc,
    amount_fen: item.amount.total,
    device_id: item.device_fingerprint,
    ip: item.ip,
    ip_country: item.ip_country ?? 'CN',
    ip_region: item.ip_region ?? '000000',
    instrument_id: item.instrument_id ?? 'unspecified',
    instrument_created_ts: instrumentCreated,
    payer_created_ts: payer!.created_at,
    promotion_id: item.promotion_id ?? null,
    refund_of_amount_fen: item.amount.original_total ?? null,
    refund_of_ts:
      item.type === 'refund' && item.out_trade_no !== undefined
        ? ((await repo.paymentTimeOfRef(ctx.db, mchid, item.out_trade_no)) ?? null)
        : null,
  };
  return { mchid, e, openid: item.payer.openid, ref: item.out_trade_no ?? null, billing: 'risk' };
}

const assessment_scope = 'risk_assessment';

/**
 * `POST /v1/risk/assessments`: score, store the assessment, add the event to the history and meter
 * the call (billing: `risk:<assessment_id>`), all in one transaction. With an `Idempotency-Key`, a
 * retry with the same body answers the stored assessment and creates (and bills) nothing; the same
 * key with another body is IDEMPOTENCY_KEY_REUSED.
 */
export async function assess(
  ctx: Ctx,
  deps: RiskDeps,
  mchid: string,
  item: AssessItem,
  idempotencyKey?: string,
): Promise<Assessment> {
  const hash = requestHash('RISK_ASSESSMENT', item);
  if (idempotencyKey !== undefined) {
    const stored = await replayAssessment(ctx, mchid, idempotencyKey, hash);
    if (stored) return stored;
  }
  const input = await eventOf(ctx, mchid, item, prefixed(ctx.ids, 'rev'));
  const scored = await score(ctx, deps, ctx.db, input);
  const now = ctx.clock.now();
  try {
    await ctx.db.transaction().execute(async (trx) => {
      if (idempotencyKey !== undefined) {
        await claimIdempotencyKey(trx, {
          mchid,
          scope: assessment_scope,
          idem_key: idempotencyKey,
          request_hash: hash,
          ref_id: scored.assessment.assessment_id,
          created_at: now,
        });
      }
      await commit(
        trx,
        scored,
        input.e,
        scored.assessment.suggested_action === 'block' ? 'declined' : 'success',
      );
      await billing.meter(ctx, trx, {
        mchid,
        kind: 'risk',
        key: `risk:${scored.assessment.assessment_id}`,
        ref: scored.assessment.assessment_id,
        quantity: 1,
        now,
      });
    });
  } catch (error) {
    // A concurrent request with the same key committed first: answer what it stored.
    if (idempotencyKey === undefined || !isUniqueViolation(error)) throw error;
    const stored = await replayAssessment(ctx, mchid, idempotencyKey, hash);
    assert(stored, 'idempotency key conflict without a stored assessment');
    return stored;
  }
  return scored.assessment;
}

async function replayAssessment(
  ctx: Ctx,
  mchid: string,
  key: string,
  hash: string,
): Promise<Assessment | undefined> {
  const stored = await findIdempotencyKey(ctx.db, mchid, assessment_scope, key, ctx.clock.now());
  if (!stored) return undefined;
  if (stored.request_hash !== hash) idempotencyKeyReused(key);
  const row = await repo.findAssessment(ctx.db, mchid, stored.ref_id);
  assert(row, `idempotency key ${key} names a missing assessment`);
  const { label: _label, ...assessment } = rowView(row);
  return assessment;
}

export interface BatchView {
  batch_id: string;
  status: 'processing' | 'completed' | 'failed';
  items: number;
  created_at: string;
  deadline_at: string;
  completed_at?: string;
  results?: (Assessment & { index: number })[];
}

/**
 * `POST /v1/risk/assessments/batch`: every item is validated first (one bad item rejects the
 * batch, nothing stored); then the batch is accepted and scored off the event loop, results
 * stored under the batch id and billed at the batch price. Items are scored against the history
 * before the batch and do not enter the velocity windows (a batch is a review, not traffic).
 */
export async function submitBatch(
  ctx: Ctx,
  deps: RiskDeps,
  mchid: string,
  items: AssessItem[],
  onCompleted?: (view: BatchView) => void,
): Promise<BatchView> {
  if (items.length > risk_batch_items_max)
    fail('risk_batch_too_large', { field: '/items', value: items.length, location: 'body' });
  const batchId = prefixed(ctx.ids, 'rb');
  // Each item kept for scoring is one small object (its event, OpenID, order reference and its
  // assessment id drawn now): 10,000 of them survive young-generation GCs on the main thread.
  const stored: StoredItem[] = [];
  const lookups = new Map<string, Promise<unknown>>();
  for (let i = 0; i < items.length; i++) {
    // Cached look-ups resolve as microtasks, which never yield: let the event loop run regularly.
    if (i > 0 && i % 200 === 0) await yieldToLoop();
    const input = await eventOf(
      ctx,
      mchid,
      items[i]!,
      `${batchId}:${String(i).padStart(5, '0')}`,
      `/items/${i}`,
      lookups,
    );
    stored.push({ e: input.e, openid: input.openid, id: prefixed(ctx.ids, 'ra'), ref: input.ref });
  }
  const now = ctx.clock.now();
  const row = {
    id: batchId,
    mchid,
    status: 'processing',
    items: items.length,
    request_hash: await batchHash(items),
    created_at: now,
    deadline_at: now + risk_batch_window_ms,
    completed_at: null,
  };
  await repo.insertBatch(ctx.db, row);
  // The full view (every result) is only read when someone asked to be told.
  void runBatch(ctx, deps, row, stored)
    .then(async () => {
      if (onCompleted) onCompleted(await getBatch(ctx, mchid, batchId));
    })
    .catch(() => undefined);
  return batchView(row);
}

/**
 * requestHash('RISK_BATCH', items), computed item by item with the event loop let through every 200
 * items (the canonical JSON of 10,000 items in one go stalled the loop for 0.1–0.3 s).
 */
export async function batchHash(items: AssessItem[]): Promise<string> {
  const hash = createHash('sha256').update('RISK_BATCH\n[');
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % 200 === 0) await yieldToLoop();
    if (i > 0) hash.update(',');
    hash.update(canonicalJson(items[i]));
  }
  return hash.update(']').digest('hex');
}

/**
 * Scores and stores a batch, then marks it completed. The assessments are stored by the scorer
 * (in the workers, each job in one transaction of its own; see risk.batch.ts) under the batch id
 * while the batch is `processing`, which no reader shows: GET answers results only of a
 * `completed` batch, and the batch becomes completed in one last transaction with its
 * risk.batch_completed event and its one usage record (all its items at the batch price). If
 * anything fails, what was stored is deleted and the batch is marked `failed` with its
 * `risk.batch_failed` event, billed nothing.
 * A process that dies mid-batch leaves it `processing`, its partial rows never shown or billed,
 * until `sweepBatches` fails it and deletes them.
 */
async function runBatch(
  ctx: Ctx,
  deps: RiskDeps,
  batch: RiskBatchesTable,
  items: StoredItem[],
): Promise<void> {
  try {
    const policy = await policyOf(ctx.db, batch.mchid);
    const target = { batchId: batch.id, mchid: batch.mchid, billing: 'risk_batch', now: ctx.clock.now() };
    const tally = await deps.batch.scoreAndStore(policy, target, items);
    assert(tally.stored === batch.items, `batch ${batch.id}: ${tally.stored} of ${batch.items} stored`);
    const now = ctx.clock.now();
    const done = await ctx.db.transaction().execute(async (trx) => {
      if (!(await repo.completeBatch(trx, batch.id, 'completed', now)))
        throw new Error(`batch ${batch.id} was no longer processing`);
      const event = await notifications.emit(ctx, trx, batch.mchid, 'risk.batch_completed', {
        batch_id: batch.id,
        items: batch.items,
        status: 'completed',
        blocked: tally.blocked,
        review: tally.review,
      });
      // One usage record per batch, for all its items at the batch price; a failed batch bills nothing.
      if (tally.stored > 0)
        await billing.meter(ctx, trx, {
          mchid: batch.mchid,
          kind: 'risk_batch',
          key: `risk_batch:${batch.id}`,
          ref: batch.id,
          quantity: tally.stored,
          now,
        });
      return event;
    });
    deps.publish?.(batch.mchid, [done]);
  } catch (error) {
    await repo.deleteBatchAssessments(ctx.db, batch.id);
    await failBatch(ctx, deps, batch);
    throw error;
  }
}

/** Marks a processing batch `failed` with its `risk.batch_failed` event (outbox); no-op if it ended. */
async function failBatch(
  ctx: Ctx,
  deps: Pick<RiskDeps, 'publish'>,
  batch: Pick<RiskBatchesTable, 'id' | 'mchid' | 'items'>,
): Promise<boolean> {
  const now = ctx.clock.now();
  const event = await ctx.db.transaction().execute(async (trx) => {
    if (!(await repo.completeBatch(trx, batch.id, 'failed', now))) return undefined;
    return notifications.emit(ctx, trx, batch.mchid, 'risk.batch_failed', {
      batch_id: batch.id,
      items: batch.items,
      status: 'failed',
    });
  });
  if (event) deps.publish?.(batch.mchid, [event]);
  return event !== undefined;
}

/**
 * Run every minute by the app: fails the batches still `processing` `risk_batch_stale_ms` after
 * they were accepted (their server stopped mid-batch; each gets its `risk.batch_failed` event),
 * then deletes the rows stored under the batches that failed in the last
 * `risk_failed_batch_cleanup_ms` (a worker job that finished after its batch had failed, or the
 * partial rows of a stopped server). Returns how many batches it failed.
 */
export async function sweepBatches(ctx: Ctx, deps: Pick<RiskDeps, 'publish'>): Promise<number> {
  let failed = 0;
  for (const batch of await repo.staleBatches(ctx.db, ctx.clock.now() - risk_batch_stale_ms))
    if (await failBatch(ctx, deps, batch)) failed++;
  await repo.deleteFailedBatchAssessments(ctx.db, ctx.clock.now() - risk_failed_batch_cleanup_ms);
  return failed;
}

function batchView(b: RiskBatchesTable): BatchView {
  const view: BatchView = {
    batch_id: b.id,
    status: b.status as BatchView['status'],
    items: b.items,
    created_at: rfc3339(b.created_at),
    deadline_at: rfc3339(b.deadline_at),
  };
  if (b.completed_at !== null) view.completed_at = rfc3339(b.completed_at);
  return view;
}

/** Rows per page when reading a batch back: a page of 250 held the event loop 4–15 ms under load. */
const batch_page_rows = 100;

export async function getBatch(ctx: Ctx, mchid: string, id: string): Promise<BatchView> {
  const b = await repo.findBatch(ctx.db, mchid, id);
  if (!b) fail('risk_batch_unknown', { field: 'batch_id', value: id, location: 'path' });
  const view = batchView(b);
  if (b.status === 'completed') {
    // Read in pages, letting the event loop through between them (a batch has up to 10,000 rows).
    view.results = [];
    let after = '';
    for (;;) {
      const rows = await repo.assessmentsOfBatch(ctx.db, id, after, batch_page_rows);
      for (const r of rows) view.results.push({ index: Number(r.event_id.split(':')[1]), ...rowView(r) });
      if (rows.length < batch_page_rows) break;
      after = rows[rows.length - 1]!.event_id;
      await yieldToLoop();
    }
  }
  return view;
}
