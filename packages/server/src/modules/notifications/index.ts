export { CallbackDispatcher, type CallbackEventType, enqueueCallback, listCallbacks } from './callbacks.ts';
export { Fanout } from './fanout.ts';
export { close_resync, type DecisionAnswer, type DecisionHandler, type DecisionOutcome, Hub } from './hub.ts';
export {
  ack,
  type DecisionMode,
  type EventType,
  emit,
  eventsAfter,
  type NotificationSettings,
  settings,
  updateSettings,
  type ZhifuEvent,
} from './notifications.service.ts';
export { addressAllowed, screenUrl } from './ssrf.ts';
