export {
  type CreateRefundInput,
  createRefund,
  queryRefund,
  type RefundStatus,
  type RefundView,
  refundView,
} from './refunds.service.ts';
