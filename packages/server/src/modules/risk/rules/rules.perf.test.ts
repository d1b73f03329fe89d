/**
 * Evaluation speed: a merchant's rule set runs on every payment, so 20 rules must cost a few µs.
 * The bound is generous (shared CI machines); the printed figure is the real number.
 */
import { expect, it } from 'vitest';
import { compileRule, evaluateRules, type RuleContext, type RuleLists, type RuleSchema } from './index.ts';

const schema: RuleSchema = {
  amount: 'number',
  device_age_days: 'number',
  ip_country: 'string',
  risk_score: 'number',
  payer_id: 'string',
  ip: 'string',
  device_id: 'string',
  hour_of_day: 'number',
  mcc: 'string',
  account_age_days: 'number',
  payer_txn_count_1h: 'number',
  is_vpn: 'boolean',
};

const sources = [
  'block if amount > 500000 and device_age_days < 1',
  "review if ip_country != 'CN'",
  'block if :risk_score: >= 90',
  'allow if payer_id in @trusted_payers',
  'block if ip in @blocked_ips or device_id in @farm_devices',
  'review if amount >= 100000 and (hour_of_day < 6 or hour_of_day >= 23)',
  "block if mcc in ['6051', '7995'] and account_age_days < 3",
  "review if not (ip_country == 'CN')",
  'block if payer_txn_count_1h > 20 and amount / 100 < 2',
  "review if starts_with(ip, '203.0.') and amount > 20000",
  'block if is_vpn and risk_score > 70',
  'review if risk_score >= 65 and risk_score < 90',
  "block if ip_country in ['KP', 'IR', 'SY'] and amount > 1000",
  'review if amount * 3 > 900000 - account_age_days * 1000',
  'block if device_age_days < 0.5 and payer_txn_count_1h >= 5',
  "review if mcc == '4829' or mcc == '6012'",
  'block if payer_id in @chargeback_payers',
  'review if hour_of_day >= 1 and hour_of_day <= 4 and is_vpn',
  'block if amount > 2_000_000',
  'review if not is_vpn and account_age_days < 1 and amount >= 50_000',
];

it('evaluates 20 compiled rules in a few µs', () => {
  const rules = sources.map((source) => compileRule(source, schema));
  expect(rules).toHaveLength(20);
  const lists: RuleLists = {
    trusted_payers: new Set(Array.from({ length: 1000 }, (_, i) => `o-trusted-${i}`)),
    blocked_ips: new Set(Array.from({ length: 10_000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`)),
    farm_devices: ['dev-farm-1', 'dev-farm-2'],
    chargeback_payers: new Set(['o-cb-1']),
  };
  const contexts: RuleContext[] = Array.from({ length: 64 }, (_, i) => ({
    amount: (i * 37_813) % 3_000_000,
    device_age_days: i % 5,
    ip_country: i % 3 === 0 ? 'CN' : i % 3 === 1 ? 'US' : 'KP',
    risk_score: (i * 7) % 100,
    payer_id: `o-trusted-${i * 20}`,
    ip: i % 2 === 0 ? `203.0.113.${i}` : `198.51.0.${i}`,
    device_id: `dev-${i}`,
    hour_of_day: i % 24,
    mcc: i % 4 === 0 ? '7995' : '5411',
    account_age_days: i % 10,
    payer_txn_count_1h: i % 30,
    is_vpn: i % 2 === 0,
  }));

  const n = 100_000;
  let blocked = 0;
  for (let i = 0; i < 20_000; i++) evaluateRules(rules, contexts[i & 63]!, lists); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (evaluateRules(rules, contexts[i & 63]!, lists).action === 'block') blocked++;
  }
  const perEvaluationUs = Number(process.hrtime.bigint() - start) / 1000 / n;
  console.log(
    `rules: ${perEvaluationUs.toFixed(3)} µs per evaluation of ${rules.length} rules ` +
      `(${((perEvaluationUs * 1000) / rules.length).toFixed(0)} ns per rule, ${n} evaluations)`,
  );
  expect(blocked).toBeGreaterThan(0);
  expect(blocked).toBeLessThan(n);
  expect(perEvaluationUs).toBeLessThan(50);
});
