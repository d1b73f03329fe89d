/**
 * Portable migrations: Kysely's schema builder only, no dialect-specific SQL, so SQLite and
 * PostgreSQL get the same tables. Append new migrations; never edit one that has shipped.
 */
import { type Kysely, type Migration, type MigrationProvider, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on the current schema type.
type AnyDb = Kysely<any>;

const m001_payment_core: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('settings')
      .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('accounts')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('kind', 'varchar(32)', (c) => c.notNull())
      .addColumn('owner_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('currency', 'varchar(3)', (c) => c.notNull())
      .addColumn('balance', 'bigint', (c) => c.notNull())
      .addColumn('floor', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('merchants')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(128)', (c) => c.notNull())
      .addColumn('hmac_key', 'varchar(128)', (c) => c.notNull())
      .addColumn('apiv3_key', 'varchar(32)', (c) => c.notNull())
      .addColumn('merchant_serial_no', 'varchar(64)', (c) => c.notNull())
      .addColumn('merchant_certificate_pem', 'text', (c) => c.notNull())
      .addColumn('platform_serial_no', 'varchar(64)', (c) => c.notNull())
      .addColumn('platform_private_key_pem', 'text', (c) => c.notNull())
      .addColumn('platform_certificate_pem', 'text', (c) => c.notNull())
      .addColumn('platform_cert_not_before', 'bigint', (c) => c.notNull())
      .addColumn('platform_cert_not_after', 'bigint', (c) => c.notNull())
      .addColumn('platform_public_key_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('platform_pubkey_private_pem', 'text', (c) => c.notNull())
      .addColumn('platform_public_key_pem', 'text', (c) => c.notNull())
      .addColumn('account_id', 'varchar(64)', (c) => c.notNull().references('accounts.id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('merchant_apps')
      .addColumn('appid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull().references('merchants.mchid'))
      .addColumn('app_secret', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('payers')
      .addColumn('user_id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('fixture', 'varchar(32)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('openids')
      .addColumn('openid', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('appid', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('payers.user_id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('openids_appid_user', ['appid', 'user_id'])
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('appid', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('session_key', 'varchar(64)', (c) => c.notNull())
      .addColumn('device_fingerprint', 'varchar(128)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('sessions_user_device')
      .on('sessions')
      .columns(['user_id', 'appid', 'device_fingerprint'])
      .execute();
    await db.schema
      .createTable('login_codes')
      .addColumn('code', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('appid', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('session_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema
      .createTable('devices')
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('fingerprint', 'varchar(128)', (c) => c.notNull())
      .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('devices_pk', ['user_id', 'fingerprint'])
      .execute();
    await db.schema
      .createTable('instruments')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull().references('payers.user_id'))
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('bank_type', 'varchar(32)', (c) => c.notNull())
      .addColumn('display_name', 'varchar(64)', (c) => c.notNull())
      .addColumn('last4', 'varchar(4)')
      .addColumn('per_txn_limit_fen', 'bigint')
      .addColumn('always_declined', 'integer', (c) => c.notNull())
      .addColumn('account_id', 'varchar(64)', (c) => c.notNull().references('accounts.id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('instruments_user').on('instruments').column('user_id').execute();
    await db.schema
      .createTable('journals')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('ref_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('postings')
      .addColumn('journal_id', 'varchar(64)', (c) => c.notNull().references('journals.id'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('account_id', 'varchar(64)', (c) => c.notNull().references('accounts.id'))
      .addColumn('amount', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('postings_pk', ['journal_id', 'seq'])
      .execute();
    await db.schema.createIndex('postings_account').on('postings').column('account_id').execute();
    await db.schema
      .createTable('orders')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('appid', 'varchar(32)', (c) => c.notNull())
      .addColumn('out_trade_no', 'varchar(32)', (c) => c.notNull())
      .addColumn('trade_type', 'varchar(16)', (c) => c.notNull())
      .addColumn('description', 'varchar(512)', (c) => c.notNull())
      .addColumn('attach', 'varchar(512)')
      .addColumn('notify_url', 'varchar(512)', (c) => c.notNull())
      .addColumn('amount_total', 'bigint', (c) => c.notNull())
      .addColumn('currency', 'varchar(3)', (c) => c.notNull())
      .addColumn('payer_openid', 'varchar(128)')
      .addColumn('prepay_id', 'varchar(64)', (c) => c.unique())
      .addColumn('code_token', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('time_expire', 'bigint', (c) => c.notNull())
      .addColumn('prepay_expires_at', 'bigint', (c) => c.notNull())
      .addColumn('trade_state', 'varchar(16)', (c) => c.notNull())
      .addColumn('transaction_id', 'varchar(32)', (c) => c.unique())
      .addColumn('success_time', 'bigint')
      .addColumn('bank_type', 'varchar(32)')
      .addColumn('paid_openid', 'varchar(128)')
      .addColumn('instrument_id', 'varchar(64)')
      .addColumn('payer_total', 'bigint')
      .addColumn('refunded_total', 'bigint', (c) => c.notNull())
      .addColumn('refund_count', 'integer', (c) => c.notNull())
      .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('extra_json', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('orders_mchid_out_trade_no', ['mchid', 'out_trade_no'])
      .execute();
    await db.schema
      .createTable('refunds')
      .addColumn('refund_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('out_refund_no', 'varchar(64)', (c) => c.notNull())
      .addColumn('order_id', 'varchar(64)', (c) => c.notNull().references('orders.id'))
      .addColumn('transaction_id', 'varchar(32)', (c) => c.notNull())
      .addColumn('out_trade_no', 'varchar(32)', (c) => c.notNull())
      .addColumn('amount_refund', 'bigint', (c) => c.notNull())
      .addColumn('amount_total', 'bigint', (c) => c.notNull())
      .addColumn('currency', 'varchar(3)', (c) => c.notNull())
      .addColumn('reason', 'varchar(256)')
      .addColumn('notify_url', 'varchar(512)')
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('channel', 'varchar(16)', (c) => c.notNull())
      .addColumn('user_received_account', 'varchar(64)', (c) => c.notNull())
      .addColumn('funds_account', 'varchar(16)', (c) => c.notNull())
      .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('create_time', 'bigint', (c) => c.notNull())
      .addColumn('success_time', 'bigint')
      .addUniqueConstraint('refunds_mchid_out_refund_no', ['mchid', 'out_refund_no'])
      .execute();
    await db.schema.createIndex('refunds_order').on('refunds').column('order_id').execute();
  },
};

const m002_fraud_shield: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('risk_events')
      .addColumn('id', 'varchar(96)', (c) => c.primaryKey())
      .addColumn('ts', 'bigint', (c) => c.notNull())
      .addColumn('type', 'varchar(16)', (c) => c.notNull())
      .addColumn('payer_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('merchant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('device_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('ip', 'varchar(64)', (c) => c.notNull())
      .addColumn('amount_fen', 'bigint', (c) => c.notNull())
      .addColumn('failed', 'integer', (c) => c.notNull())
      .addColumn('promo', 'integer', (c) => c.notNull())
      .addColumn('refund', 'integer', (c) => c.notNull())
      .execute();
    for (const col of ['payer_id', 'device_id', 'ip', 'merchant_id']) {
      await db.schema.createIndex(`risk_events_${col}_ts`).on('risk_events').columns([col, 'ts']).execute();
    }
    await db.schema
      .createTable('risk_profiles')
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('key', 'varchar(128)', (c) => c.notNull())
      .addColumn('payments', 'bigint', (c) => c.notNull())
      .addColumn('refunds', 'bigint', (c) => c.notNull())
      .addColumn('mean_log', 'double precision', (c) => c.notNull())
      .addColumn('m2_log', 'double precision', (c) => c.notNull())
      .addColumn('hour_sin', 'double precision', (c) => c.notNull())
      .addColumn('hour_cos', 'double precision', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_profiles_pk', ['kind', 'key'])
      .execute();
    await db.schema
      .createTable('risk_seen')
      .addColumn('payer_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('value', 'varchar(128)', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_seen_pk', ['payer_id', 'kind', 'value'])
      .execute();
    await db.schema
      .createTable('risk_devices')
      .addColumn('device_id', 'varchar(128)', (c) => c.primaryKey())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('risk_assessments')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('event_id', 'varchar(96)', (c) => c.notNull())
      .addColumn('ref', 'varchar(64)')
      .addColumn('batch_id', 'varchar(64)')
      .addColumn('risk_score', 'integer', (c) => c.notNull())
      .addColumn('risk_level', 'varchar(16)', (c) => c.notNull())
      .addColumn('suggested_action', 'varchar(16)', (c) => c.notNull())
      .addColumn('reasons_json', 'text', (c) => c.notNull())
      .addColumn('rules_matched_json', 'text', (c) => c.notNull())
      .addColumn('model_version', 'varchar(64)', (c) => c.notNull())
      .addColumn('features_json', 'text', (c) => c.notNull())
      .addColumn('label', 'varchar(16)')
      .addColumn('labelled_at', 'bigint')
      .addColumn('billing_kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('risk_assessments_mchid')
      .on('risk_assessments')
      .columns(['mchid', 'created_at'])
      .execute();
    await db.schema
      .createIndex('risk_assessments_ref')
      .on('risk_assessments')
      .columns(['mchid', 'ref'])
      .execute();
    await db.schema.createIndex('risk_assessments_batch').on('risk_assessments').column('batch_id').execute();
    await db.schema
      .createTable('risk_rules')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('source', 'varchar(1024)', (c) => c.notNull())
      .addColumn('action', 'varchar(16)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('risk_rules_mchid').on('risk_rules').column('mchid').execute();
    await db.schema
      .createTable('risk_lists')
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('values_json', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_lists_pk', ['mchid', 'name'])
      .execute();
    await db.schema
      .createTable('risk_settings')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('review_threshold', 'integer', (c) => c.notNull())
      .addColumn('block_threshold', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('risk_batches')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('items', 'integer', (c) => c.notNull())
      .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deadline_at', 'bigint', (c) => c.notNull())
      .addColumn('completed_at', 'bigint')
      .execute();
    await db.schema
      .alterTable('merchants')
      .addColumn('mcc', 'varchar(4)', (c) => c.notNull().defaultTo('5999'))
      .execute();
  },
};

const m003_notifications: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('merchant_sequences')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('last_seq', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('events')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('type', 'varchar(48)', (c) => c.notNull())
      .addColumn('data_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('events_mchid_seq', ['mchid', 'seq'])
      .execute();
    await db.schema
      .createTable('notification_settings')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('decision_mode', 'varchar(16)', (c) => c.notNull())
      .addColumn('review_window_ms', 'bigint', (c) => c.notNull())
      .addColumn('acked_seq', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('decisions')
      .addColumn('order_id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('event_id', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('state', 'varchar(16)', (c) => c.notNull())
      .addColumn('suggested_action', 'varchar(16)', (c) => c.notNull())
      .addColumn('deadline_at', 'bigint', (c) => c.notNull())
      .addColumn('review_until', 'bigint')
      .addColumn('decided_at', 'bigint')
      .addColumn('decided_by', 'varchar(16)')
      .addColumn('decision', 'varchar(16)')
      .addColumn('hold_account_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('instrument_account_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('amount', 'bigint', (c) => c.notNull())
      .addColumn('risk_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('decisions_state_deadline')
      .on('decisions')
      .columns(['state', 'deadline_at'])
      .execute();
    await db.schema
      .createIndex('decisions_state_review')
      .on('decisions')
      .columns(['state', 'review_until'])
      .execute();
    await db.schema
      .createTable('callbacks')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('event_type', 'varchar(32)', (c) => c.notNull())
      .addColumn('ref', 'varchar(64)', (c) => c.notNull())
      .addColumn('notify_url', 'varchar(512)', (c) => c.notNull())
      .addColumn('summary', 'varchar(64)', (c) => c.notNull())
      .addColumn('original_type', 'varchar(16)', (c) => c.notNull())
      .addColumn('resource_json', 'text', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('delivered_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('callbacks_due')
      .on('callbacks')
      .columns(['status', 'next_attempt_at'])
      .execute();
    await db.schema.createIndex('callbacks_ref').on('callbacks').columns(['mchid', 'ref']).execute();
    await db.schema
      .createTable('callback_attempts')
      .addColumn('callback_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('http_status', 'integer')
      .addColumn('error', 'varchar(256)')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('callback_attempts_pk', ['callback_id', 'attempt'])
      .execute();
  },
};

const m004_billing: Migration = {
  async up(db: AnyDb) {
    // Metering: one row per billable unit; the unique usage_key makes a replayed meter call a no-op.
    await db.schema
      .createTable('usage_records')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('usage_key', 'varchar(160)', (c) => c.notNull().unique())
      .addColumn('ref', 'varchar(64)', (c) => c.notNull())
      .addColumn('period', 'varchar(7)', (c) => c.notNull())
      .addColumn('quantity', 'bigint', (c) => c.notNull())
      .addColumn('unit_price_fen', 'bigint', (c) => c.notNull())
      .addColumn('amount_fen', 'bigint', (c) => c.notNull())
      .addColumn('journal_id', 'varchar(64)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('usage_records_mchid_period')
      .on('usage_records')
      .columns(['mchid', 'period', 'kind'])
      .execute();
    // Monthly counters of tiered units (conversations): the n-th unit of a month is priced by its tier.
    await db.schema
      .createTable('usage_counters')
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('period', 'varchar(7)', (c) => c.notNull())
      .addColumn('units', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('usage_counters_pk', ['mchid', 'kind', 'period'])
      .execute();
    // The processing fee of each captured payment and what refunds have returned of it.
    await db.schema
      .createTable('processing_fees')
      .addColumn('order_id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('paid_fen', 'bigint', (c) => c.notNull())
      .addColumn('fee_fen', 'bigint', (c) => c.notNull())
      .addColumn('refunded_fen', 'bigint', (c) => c.notNull())
      .addColumn('returned_fen', 'bigint', (c) => c.notNull())
      .addColumn('captured_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('processing_fees_mchid_captured')
      .on('processing_fees')
      .columns(['mchid', 'captured_at'])
      .execute();
    await db.schema
      .createTable('fee_returns')
      .addColumn('refund_id', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('order_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('refund_fen', 'bigint', (c) => c.notNull())
      .addColumn('returned_fen', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('fee_returns_mchid_created')
      .on('fee_returns')
      .columns(['mchid', 'created_at'])
      .execute();
    // Eligibility volume and bills read captured payments and refunds of a merchant by time.
    await db.schema
      .createIndex('orders_mchid_success')
      .on('orders')
      .columns(['mchid', 'success_time'])
      .execute();
    await db.schema
      .createIndex('refunds_mchid_success')
      .on('refunds')
      .columns(['mchid', 'success_time'])
      .execute();
    await db.schema
      .createTable('ai_eligibility_grants')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('granted', 'integer', (c) => c.notNull())
      .addColumn('reason', 'varchar(256)', (c) => c.notNull())
      .addColumn('actor', 'varchar(96)', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('idempotency_keys')
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('scope', 'varchar(32)', (c) => c.notNull())
      .addColumn('idem_key', 'varchar(64)', (c) => c.notNull())
      .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('ref_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['mchid', 'scope', 'idem_key'])
      .execute();
    await db.schema
      .createTable('bill_tokens')
      .addColumn('token', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('bill_date', 'varchar(10)', (c) => c.notNull())
      .addColumn('bill_type', 'varchar(16)', (c) => c.notNull())
      .addColumn('tar_type', 'varchar(8)')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('bill_tokens_expires').on('bill_tokens').column('expires_at').execute();
  },
};

const m005_compliance: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('audit_log')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'varchar(96)', (c) => c.notNull())
      .addColumn('action', 'varchar(64)', (c) => c.notNull())
      .addColumn('target', 'varchar(256)', (c) => c.notNull())
      .addColumn('detail_json', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'varchar(64)', (c) => c.notNull())
      .addColumn('hash', 'varchar(64)', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('merchant_freezes')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('reason', 'varchar(32)', (c) => c.notNull())
      .addColumn('category', 'varchar(32)')
      .addColumn('evidence_json', 'text', (c) => c.notNull())
      .addColumn('frozen_at', 'bigint', (c) => c.notNull())
      .addColumn('frozen_until', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('merchant_freezes_mchid')
      .on('merchant_freezes')
      .columns(['mchid', 'frozen_until'])
      .execute();
    await db.schema.alterTable('merchants').addColumn('frozen_until', 'bigint').execute();
    await db.schema
      .createTable('consents')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('purpose', 'varchar(64)', (c) => c.notNull())
      .addColumn('granted', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('consents_version', ['mchid', 'user_id', 'version'])
      .execute();
    await db.schema
      .createIndex('consents_user')
      .on('consents')
      .columns(['mchid', 'user_id', 'purpose', 'at'])
      .execute();
    await db.schema
      .createTable('cross_border_transfers')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('year', 'integer', (c) => c.notNull())
      .addColumn('subject', 'varchar(64)', (c) => c.notNull())
      .addColumn('destination', 'varchar(64)', (c) => c.notNull())
      .addColumn('purpose', 'varchar(64)', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('cross_border_year')
      .on('cross_border_transfers')
      .columns(['year', 'subject'])
      .execute();
  },
};

const m006_checkout: Migration = {
  async up(db: AnyDb) {
    // One row per Smart Checkout query: what was shown (with the logged propensity of the first
    // place) and, once a payment follows it, the outcome the bandit learned from.
    await db.schema
      .createTable('checkout_rankings')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('feature_version', 'varchar(32)', (c) => c.notNull())
      .addColumn('amount_fen', 'bigint', (c) => c.notNull())
      .addColumn('mcc', 'varchar(8)', (c) => c.notNull())
      .addColumn('policy', 'varchar(32)', (c) => c.notNull())
      .addColumn('exploration_share', 'double precision', (c) => c.notNull())
      .addColumn('explored', 'integer', (c) => c.notNull())
      .addColumn('top_instrument_id', 'varchar(64)')
      .addColumn('propensity', 'double precision')
      .addColumn('arms_json', 'text', (c) => c.notNull())
      .addColumn('chosen_instrument_id', 'varchar(64)')
      .addColumn('order_id', 'varchar(64)')
      .addColumn('succeeded', 'integer')
      .addColumn('reward', 'double precision')
      .addColumn('outcome_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('checkout_rankings_outcome')
      .on('checkout_rankings')
      .columns(['outcome_at'])
      .execute();
    await db.schema
      .createTable('checkout_promotions')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('bank_type', 'varchar(32)')
      .addColumn('instrument_kind', 'varchar(16)')
      .addColumn('min_amount_fen', 'bigint', (c) => c.notNull())
      .addColumn('discount_fen', 'bigint', (c) => c.notNull())
      .addColumn('instalments', 'integer')
      .addColumn('budget_fen', 'bigint', (c) => c.notNull())
      .addColumn('spent_fen', 'bigint', (c) => c.notNull())
      .addColumn('funded_by', 'varchar(16)', (c) => c.notNull())
      .addColumn('account_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('starts_at', 'bigint', (c) => c.notNull())
      .addColumn('ends_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('checkout_promotions_mchid')
      .on('checkout_promotions')
      .columns(['mchid', 'ends_at'])
      .execute();
    await db.schema
      .createTable('checkout_redemptions')
      .addColumn('order_id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('promotion_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('discount_fen', 'bigint', (c) => c.notNull())
      .addColumn('budget_used_fen', 'bigint', (c) => c.notNull())
      .addColumn('order_total_fen', 'bigint', (c) => c.notNull())
      .addColumn('refunded_fen', 'bigint', (c) => c.notNull())
      .addColumn('returned_fen', 'bigint', (c) => c.notNull())
      .addColumn('journal_id', 'varchar(64)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    // Sandbox bank channels: base latency and failure rate plus a schedule of outages and spikes.
    await db.schema
      .createTable('checkout_channels')
      .addColumn('bank_type', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('failure_rate', 'double precision', (c) => c.notNull())
      .addColumn('schedule_json', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // Zhifu's own sandbox authorisations: the source of the sliding-window channel health.
    await db.schema
      .createTable('checkout_authorizations')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('bank_type', 'varchar(32)', (c) => c.notNull())
      .addColumn('instrument_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('succeeded', 'integer', (c) => c.notNull())
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('checkout_authorizations_at')
      .on('checkout_authorizations')
      .columns(['at'])
      .execute();
  },
};

const m007_llm_gateway: Migration = {
  async up(db: AnyDb) {
    // Gateway API keys: only the SHA-256 of the key is stored; the key is shown once at creation.
    await db.schema
      .createTable('llm_keys')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('key_hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('key_prefix', 'varchar(16)', (c) => c.notNull())
      .addColumn('rpm', 'integer')
      .addColumn('tpm', 'integer')
      .addColumn('budget_fen_monthly', 'bigint')
      .addColumn('models', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('llm_keys_mchid').on('llm_keys').columns(['mchid', 'created_at']).execute();
    // The request log: one row per gateway call (never prompts or answers).
    await db.schema
      .createTable('llm_requests')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('model', 'varchar(128)', (c) => c.notNull())
      .addColumn('provider', 'varchar(64)')
      .addColumn('region', 'varchar(16)')
      .addColumn('stream', 'integer', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('error_code', 'varchar(64)')
      .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
      .addColumn('completion_tokens', 'integer', (c) => c.notNull())
      .addColumn('cost_ufen', 'bigint', (c) => c.notNull())
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('redacted', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('llm_requests_mchid')
      .on('llm_requests')
      .columns(['mchid', 'created_at'])
      .execute();
    await db.schema
      .createIndex('llm_requests_key')
      .on('llm_requests')
      .columns(['key_id', 'created_at'])
      .execute();
    // Per-merchant gateway settings: the merchant's own identifier patterns for the redaction proxy.
    await db.schema
      .createTable('llm_settings')
      .addColumn('mchid', 'varchar(32)', (c) => c.primaryKey())
      .addColumn('redaction_patterns', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};

/** Conversational payments (issue #7): threads, sealed messages, mandates, the tool-call audit. */
const m008_conversations: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('conversations')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('appid', 'varchar(32)', (c) => c.notNull())
      .addColumn('payer_openid', 'varchar(64)', (c) => c.notNull())
      .addColumn('notify_url', 'varchar(256)', (c) => c.notNull())
      .addColumn('agent_token_hash', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('tokens_used', 'bigint', (c) => c.notNull())
      .addColumn('tool_calls_used', 'integer', (c) => c.notNull())
      .addColumn('message_count', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('conversations_mchid')
      .on('conversations')
      .columns(['mchid', 'created_at'])
      .execute();
    await db.schema
      .createTable('conversation_messages')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('conversation_id', 'varchar(40)', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('role', 'varchar(16)', (c) => c.notNull())
      .addColumn('e2e', 'integer', (c) => c.notNull())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('conversation_messages_seq', ['conversation_id', 'seq'])
      .execute();
    await db.schema
      .createTable('conversation_proposals')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('conversation_id', 'varchar(40)', (c) => c.notNull())
      .addColumn('mchid', 'varchar(32)', (c) => c.notNull())
      .addColumn('agent', 'varchar(16)', (c) => c.notNull())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('state', 'varchar(32)', (c) => c.notNull())
      .addColumn('amount', 'bigint', (c) => c.notNull())
      .addColumn('currency', 'varchar(8)', (c) => c.notNull())
      .addColumn('out_trade_no', 'varchar(32)', (c) => c.notNull())
      .addColumn('prepay_id', 'varchar(64)')
      .addColumn('out_refund_no', 'varchar(64)')
      .addColumn('transaction_id', 'varchar(32)')
      .addColumn('refund_id', 'varchar(64)')
      .addColumn('reason', 'varchar(80)')
      .addColumn('policy_outcome', 'varchar(16)', (c) => c.notNull())
      .addColumn('policy_json', 'text', (c) => c.notNull())
      .addColumn('day', 'varchar(10)', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .addColumn('executed_at', 'bigint')
      .addColumn('error_code', 'varchar(64)')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('conversation_proposals_conversation')
      .on('conversation_proposals')
      .columns(['conversation_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('conversation_proposals_agent_day')
      .on('conversation_proposals')
      .columns(['mchid', 'agent', 'day'])
      .execute();
    await db.schema
      .createTable('agent_tool_calls')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('conversation_id', 'varchar(40)', (c) => c.notNull())
      .addColumn('agent', 'varchar(16)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('allowed', 'integer', (c) => c.notNull())
      .addColumn('executed', 'integer', (c) => c.notNull())
      .addColumn('outcome', 'varchar(64)', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('agent_tool_calls_conversation')
      .on('agent_tool_calls')
      .columns(['conversation_id', 'created_at'])
      .execute();
  },
};

/**
 * Fraud Shield feature store, issue #3 (model risk-gbdt-2): lifetime device ↔ payer pairs, the
 * payer's quasi-cash count, and covering indexes so that every window aggregate of the snapshot
 * statement is an index-only range scan (no table look-up per history row).
 */
const m010_risk_features: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('risk_device_payers')
      .addColumn('device_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('payer_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('first_seen', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_device_payers_pk', ['device_id', 'payer_id'])
      .execute();
    await db.schema
      .createIndex('risk_device_payers_payer')
      .on('risk_device_payers')
      .columns(['payer_id', 'device_id'])
      .execute();
    // Existing history: every payment attempt's (device, payer) pair, first time seen.
    await db
      .insertInto('risk_device_payers')
      .columns(['device_id', 'payer_id', 'first_seen'])
      .expression(
        db
          .selectFrom('risk_events')
          .select(['device_id', 'payer_id', (eb) => eb.fn.min('ts').as('first_seen')])
          .where('type', '=', 'payment')
          .groupBy(['device_id', 'payer_id']),
      )
      .execute();
    // Not derivable from stored history (risk_events has no MCC): starts at 0.
    await db.schema
      .alterTable('risk_profiles')
      .addColumn('quasi_cash', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    const covering: Record<string, string[]> = {
      payer_id: ['payer_id', 'ts', 'refund', 'failed', 'promo', 'amount_fen', 'device_id'],
      device_id: ['device_id', 'ts', 'refund', 'payer_id'],
      ip: ['ip', 'ts', 'refund', 'payer_id'],
      merchant_id: ['merchant_id', 'refund', 'ts'],
    };
    // A batch's results are read back in pages in item order.
    await db.schema
      .createIndex('risk_assessments_batch_event')
      .on('risk_assessments')
      .columns(['batch_id', 'event_id'])
      .execute();
    for (const [col, columns] of Object.entries(covering)) {
      await db.schema.dropIndex(`risk_events_${col}_ts`).execute();
      await db.schema.createIndex(`risk_events_${col}_cover`).on('risk_events').columns(columns).execute();
    }
  },
};

/**
 * Fraud Shield, hot keys in constant time. A merchant's hour, or one IP shared by many payers (a
 * carrier NAT, a chat server paying by mandate), can hold far more events than any payer's day:
 * scanning them took 7 ms per snapshot at 100k payments in the hour. Payment attempts per
 * merchant and per IP are counted per second and per minute, and each (IP, payer) pair keeps its
 * latest payment time, so the windows read at most ~120 counter rows, one second of raw history
 * and the IP's distinct payers. Existing history of the last hours is counted in.
 */
const m011_risk_window_counts: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('risk_window_counts')
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('key', 'varchar(128)', (c) => c.notNull())
      .addColumn('span', 'varchar(1)', (c) => c.notNull())
      .addColumn('bucket', 'bigint', (c) => c.notNull())
      .addColumn('n', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_window_counts_pk', ['kind', 'key', 'span', 'bucket'])
      .execute();
    await db.schema
      .createTable('risk_window_pairs')
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('key', 'varchar(128)', (c) => c.notNull())
      .addColumn('other', 'varchar(128)', (c) => c.notNull())
      .addColumn('last_ts', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('risk_window_pairs_pk', ['kind', 'key', 'other'])
      .execute();
    // The pruner deletes by age every minute: a range on these indexes, not a scan of the tables.
    // (A key's distinct-payer count reads its primary-key range: only the last 25 h are kept.)
    await db.schema
      .createIndex('risk_window_counts_age')
      .on('risk_window_counts')
      .columns(['span', 'bucket'])
      .execute();
    await db.schema.createIndex('risk_window_pairs_age').on('risk_window_pairs').column('last_ts').execute();
    // PostgreSQL: the backfill runs without parallel workers. A parallel worker of this migration's
    // transaction once failed with 'schema … does not exist' (the schema named by search_path).
    if (db.getExecutor().adapter instanceof PostgresAdapter)
      await sql`set local max_parallel_workers_per_gather = 0`.execute(db);
    const now = Date.now();
    for (const [kind, column] of [
      ['merchant', 'merchant_id'],
      ['ip', 'ip'],
    ] as const) {
      for (const [span, size, keep] of [
        ['s', 1_000, 65 * 60_000],
        ['m', 60_000, 3 * 3_600_000],
      ] as const) {
        await db
          .insertInto('risk_window_counts')
          .columns(['kind', 'key', 'span', 'bucket', 'n'])
          .expression(
            db
              .selectFrom('risk_events')
              .select([
                sql.lit(kind).as('kind'),
                column,
                sql.lit(span).as('span'),
                sql<number>`ts / ${sql.lit(size)}`.as('bucket'),
                (eb) => eb.fn.countAll().as('n'),
              ])
              .where('refund', '=', 0)
              .where('ts', '>', now - keep)
              .groupBy([column, sql`ts / ${sql.lit(size)}`]),
          )
          .execute();
      }
    }
    await db
      .insertInto('risk_window_pairs')
      .columns(['kind', 'key', 'other', 'last_ts'])
      .expression(
        db
          .selectFrom('risk_events')
          .select([sql.lit('ip_payer').as('kind'), 'ip', 'payer_id', (eb) => eb.fn.max('ts').as('last_ts')])
          .where('refund', '=', 0)
          .where('ts', '>', now - 25 * 3_600_000)
          .groupBy(['ip', 'payer_id']),
      )
      .execute();
  },
};

/**
 * Fewer B-trees written per payment: `risk_assessments_batch` (batch_id) is a prefix of
 * `risk_assessments_batch_event` (batch_id, event_id), which serves every lookup by batch; every
 * assessment (batch or not) wrote an entry into both.
 */
const m013_drop_redundant_indexes: Migration = {
  async up(db: AnyDb) {
    await db.schema.dropIndex('risk_assessments_batch').execute();
  },
};

/**
 * The minute sweep of risk batches (risk.service.ts sweepBatches) reads batches by status: the
 * stale `processing` ones and the recently `failed` ones. Without this index both were full scans
 * of a table that gains a row per batch forever.
 */
const m014_risk_batches_status: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createIndex('risk_batches_status')
      .on('risk_batches')
      .columns(['status', 'completed_at'])
      .execute();
  },
};

/**
 * A refund's own amounts (reference §3.4): what the payer paid for the order and gets back, the
 * discount returned to a promotion's funder, and the `amount.from` split the merchant asked for.
 * Refunds made before have no promotion share to record (0) and no split (null).
 */
const m015_refund_amounts: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('refunds').addColumn('payer_total', 'bigint').execute();
    await db.schema
      .alterTable('refunds')
      .addColumn('discount_refund', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('refunds').addColumn('from_json', 'text').execute();
  },
};

/**
 * Refunds that cannot reach the payer (APIv3 §3.4 status `ABNORMAL`, then `CLOSED`): a sandbox
 * payer can close an instrument (`closed_at`), and the refund sweep finds the abnormal refunds
 * past their window by status and creation time.
 */
const m016_refund_abnormal: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('instruments').addColumn('closed_at', 'bigint').execute();
    await db.schema
      .createIndex('refunds_status_create')
      .on('refunds')
      .columns(['status', 'create_time'])
      .execute();
  },
};

/**
 * Sandbox sessions and login codes are purged once expired (identity.service.ts
 * purgeExpiredSessions), by their expiry. A device's live sessions are read by (user, app, device)
 * with the expiry in the index, so the sessions a device ended before are not read one by one.
 */
const m017_session_expiry: Migration = {
  async up(db: AnyDb) {
    await db.schema.dropIndex('sessions_user_device').execute();
    await db.schema
      .createIndex('sessions_user_device_live')
      .on('sessions')
      .columns(['user_id', 'appid', 'device_fingerprint', 'expires_at'])
      .execute();
    await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute();
    await db.schema.createIndex('login_codes_expiry').on('login_codes').column('expires_at').execute();
  },
};

export const migrations: MigrationProvider = {
  async getMigrations() {
    return {
      '001_payment_core': m001_payment_core,
      '002_fraud_shield': m002_fraud_shield,
      '003_notifications': m003_notifications,
      '004_billing': m004_billing,
      '005_compliance': m005_compliance,
      '006_checkout': m006_checkout,
      '007_llm_gateway': m007_llm_gateway,
      '008_conversations': m008_conversations,
      '010_risk_features': m010_risk_features,
      '011_risk_window_counts': m011_risk_window_counts,
      '013_drop_redundant_indexes': m013_drop_redundant_indexes,
      '014_risk_batches_status': m014_risk_batches_status,
      '015_refund_amounts': m015_refund_amounts,
      '016_refund_abnormal': m016_refund_abnormal,
      '017_session_expiry': m017_session_expiry,
    };
  },
};
