export {
  type CreateRefundInput,
  closeAbnormalRefund,
  createRefund,
  queryRefund,
  type RefundStatus,
  type RefundView,
  refundEvent,
  refundHoldAccountId,
  refundView,
  sweepAbnormalRefunds,
} from './refunds.service.ts';
