export {
  appsOf,
  createMerchant,
  findApp,
  findMerchant,
  firstMerchant,
  type MerchantCredentials,
  MerchantKeyCache,
  type MerchantKeys,
} from './merchants.service.ts';
