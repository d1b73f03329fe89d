export {
  type CreateRefundInput,
  createRefund,
  queryRefund,
  type RefundStatus,
  type RefundView,
  refundEvent,
  refundView,
} from './refunds.service.ts';
