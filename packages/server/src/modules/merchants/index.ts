export {
  appsOf,
  createMerchant,
  findApp,
  findMerchant,
  firstMerchant,
  type MerchantCredentials,
  MerchantKeyCache,
  type MerchantKeys,
  merchantProfile,
} from './merchants.service.ts';
