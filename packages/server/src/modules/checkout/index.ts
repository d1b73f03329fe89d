export {
  authorizeOnChannel,
  type CheckoutOptions,
  default_checkout_options,
  forgetState,
  newModel,
  type Redemption,
  rankingForPayment,
  recordOutcome,
  redeemPromotion,
  refundPromotionShare,
} from './checkout.service.ts';
