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
} from './checkout.service.ts';
