export {
  authorizeOnChannel,
  type CheckoutOptions,
  default_checkout_options,
  forgetState,
  isWarm,
  newModel,
  type Redemption,
  rankingForPayment,
  recordOutcome,
  redeemPromotion,
  refundPromotionShare,
  warm,
} from './checkout.service.ts';
