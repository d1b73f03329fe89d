import { describe, expect, it } from 'vitest';
import {
  agent_refund_auto_max_fen,
  agent_refund_daily_cap_fen,
  agent_refund_window_ms,
  refund_window_ms,
} from '../src/lib/limits.ts';
import { judgeRefund, type PolicyInput } from '../src/modules/conversations/index.ts';

const day = 24 * 3600 * 1000;
const base: PolicyInput = {
  amount: 1000,
  refundable: 5000,
  paidAt: 0,
  now: day,
  agentTodayFen: 0,
  risk: { action: 'approve', score: 5, assessmentId: 'ra_1' },
};

describe('the refund policy of agent refunds', () => {
  it('lets a small refund of a recent order through', () => {
    expect(judgeRefund(base).outcome).toBe('auto');
  });

  it('refuses more than is refundable, and refunds older than APIv3 allows', () => {
    expect(judgeRefund({ ...base, amount: 5001 }).outcome).toBe('refused');
    expect(judgeRefund({ ...base, now: refund_window_ms + 1 }).outcome).toBe('refused');
  });

  it('escalates past the agent window, above the per-refund limit and past the daily cap', () => {
    expect(judgeRefund({ ...base, now: agent_refund_window_ms + 1 }).outcome).toBe('escalated');
    expect(judgeRefund({ ...base, amount: agent_refund_auto_max_fen + 1, refundable: 10 ** 6 }).outcome).toBe(
      'escalated',
    );
    expect(judgeRefund({ ...base, agentTodayFen: agent_refund_daily_cap_fen - 999 }).outcome).toBe(
      'escalated',
    );
    expect(judgeRefund({ ...base, agentTodayFen: agent_refund_daily_cap_fen - 1000 }).outcome).toBe('auto');
  });

  it('follows the Fraud Shield: block refuses, review escalates', () => {
    expect(judgeRefund({ ...base, risk: { ...base.risk, action: 'block' } }).outcome).toBe('refused');
    expect(judgeRefund({ ...base, risk: { ...base.risk, action: 'review' } }).outcome).toBe('escalated');
  });

  it('names every check with its result', () => {
    const { checks } = judgeRefund({ ...base, amount: 9000 });
    expect(checks.map((c) => c.name)).toEqual([
      'refundable',
      'refund_window',
      'agent_window',
      'auto_limit',
      'daily_cap',
      'fraud_shield',
    ]);
    expect(checks[0]).toMatchObject({ result: 'refuse' });
  });
});
