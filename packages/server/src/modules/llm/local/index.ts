export { normalize, parseAmount } from './amounts.ts';
export { type Intent, intents, languageOf, type Reading, read } from './intents.ts';
export { completeLocally, countTokens, summarise, zhifu_local_model, zhifuLocal } from './zhifu-local.ts';
