/**
 * The refund policy every agent refund passes (peers.md §5 idea 5): the model proposes, this
 * deterministic code disposes. Outcomes: `auto` (the payer may confirm at once), `escalated` (the
 * merchant approves or declines first, over REST), `refused` (nothing to confirm).
 *
 * 1. at most what is still refundable (captured − refunded − other open refund proposals): refused;
 * 2. APIv3's one-year window: refused; the agent's own 30-day window: escalated;
 * 3. one refund above 200 CNY: escalated;
 * 4. the agent's daily cap (500 CNY per merchant, agent and China day): escalated;
 * 5. the Fraud Shield's verdict on the refund against the payer's history: block → refused,
 *    review → escalated.
 */
import {
  agent_refund_auto_max_fen,
  agent_refund_daily_cap_fen,
  agent_refund_window_ms,
  refund_window_ms,
} from '../../lib/limits.ts';

export type PolicyOutcome = 'auto' | 'escalated' | 'refused';

export interface PolicyCheck {
  name: 'refundable' | 'refund_window' | 'agent_window' | 'auto_limit' | 'daily_cap' | 'fraud_shield';
  result: 'pass' | 'escalate' | 'refuse';
  detail: string;
}

export interface PolicyInput {
  amount: number;
  refundable: number;
  paidAt: number;
  now: number;
  agentTodayFen: number;
  risk: { action: 'approve' | 'review' | 'block'; score: number; assessmentId: string };
}

function yuan(fen: number): string {
  return `¥${(fen / 100).toFixed(2)}`;
}

export function judgeRefund(p: PolicyInput): { outcome: PolicyOutcome; checks: PolicyCheck[] } {
  const age = p.now - p.paidAt;
  const checks: PolicyCheck[] = [
    p.amount <= p.refundable
      ? { name: 'refundable', result: 'pass', detail: `${yuan(p.amount)} ≤ refundable ${yuan(p.refundable)}` }
      : {
          name: 'refundable',
          result: 'refuse',
          detail: `${yuan(p.amount)} exceeds the refundable ${yuan(p.refundable)}`,
        },
    age <= refund_window_ms
      ? { name: 'refund_window', result: 'pass', detail: 'paid within the last year' }
      : {
          name: 'refund_window',
          result: 'refuse',
          detail: 'paid more than a year ago (APIv3 refund window)',
        },
    age <= agent_refund_window_ms
      ? { name: 'agent_window', result: 'pass', detail: 'paid within 30 days' }
      : { name: 'agent_window', result: 'escalate', detail: 'paid more than 30 days ago' },
    p.amount <= agent_refund_auto_max_fen
      ? { name: 'auto_limit', result: 'pass', detail: `≤ ${yuan(agent_refund_auto_max_fen)}` }
      : {
          name: 'auto_limit',
          result: 'escalate',
          detail: `above ${yuan(agent_refund_auto_max_fen)} per refund`,
        },
    p.agentTodayFen + p.amount <= agent_refund_daily_cap_fen
      ? { name: 'daily_cap', result: 'pass', detail: `today ${yuan(p.agentTodayFen + p.amount)}` }
      : {
          name: 'daily_cap',
          result: 'escalate',
          detail: `today's agent refunds would reach ${yuan(p.agentTodayFen + p.amount)} (cap ${yuan(agent_refund_daily_cap_fen)})`,
        },
    {
      name: 'fraud_shield',
      result: p.risk.action === 'block' ? 'refuse' : p.risk.action === 'review' ? 'escalate' : 'pass',
      detail: `risk_score ${p.risk.score}, ${p.risk.action} (assessment ${p.risk.assessmentId})`,
    },
  ];
  const outcome: PolicyOutcome = checks.some((c) => c.result === 'refuse')
    ? 'refused'
    : checks.some((c) => c.result === 'escalate')
      ? 'escalated'
      : 'auto';
  return { outcome, checks };
}
