/**
 * The sandbox payers every installation starts with (docs/sandbox.md). Their ids, instruments and
 * balances are fixed so tests and demos are repeatable; `fixture` names a deterministic behaviour.
 */
export type InstrumentKind = 'balance' | 'debit_card' | 'credit_card' | 'credit_line';

export interface InstrumentFixture {
  suffix: string;
  kind: InstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  /** Balance (balance, debit card) or credit limit (credit card, credit line), in fen. */
  funds_fen: number;
  per_txn_limit_fen: number | null;
  always_declined?: boolean;
}

export interface PayerFixture {
  user_id: string;
  name: string;
  /** always_declined: every card is declined by its bank · low_balance: ¥1.00 in the wallet, no cards. */
  fixture: 'always_declined' | 'low_balance' | null;
  /** How long ago the WeChat account and its instruments were opened: established users, not new ones. */
  account_age_days: number;
  instruments: InstrumentFixture[];
}

export const sandboxPayers: PayerFixture[] = [
  {
    user_id: 'usr_zhangwei',
    account_age_days: 1200,
    name: '张伟 Zhang Wei',
    fixture: null,
    instruments: [
      {
        suffix: 'balance',
        kind: 'balance',
        bank_type: 'OTHERS',
        display_name: '零钱 Wallet balance',
        last4: null,
        funds_fen: 500_000,
        per_txn_limit_fen: null,
      },
      {
        suffix: 'icbc_debit',
        kind: 'debit_card',
        bank_type: 'ICBC_DEBIT',
        display_name: '工商银行储蓄卡 ICBC debit',
        last4: '6622',
        funds_fen: 2_000_000,
        per_txn_limit_fen: 500_000,
      },
      {
        suffix: 'cmb_credit',
        kind: 'credit_card',
        bank_type: 'CMB_CREDIT',
        display_name: '招商银行信用卡 CMB credit',
        last4: '0403',
        funds_fen: 3_000_000,
        per_txn_limit_fen: 1_000_000,
      },
      {
        suffix: 'fenfu',
        kind: 'credit_line',
        bank_type: 'OTHERS',
        display_name: '分付 Credit line',
        last4: null,
        funds_fen: 200_000,
        per_txn_limit_fen: null,
      },
    ],
  },
  {
    user_id: 'usr_lina',
    account_age_days: 800,
    name: '李娜 Li Na',
    fixture: null,
    instruments: [
      {
        suffix: 'balance',
        kind: 'balance',
        bank_type: 'OTHERS',
        display_name: '零钱 Wallet balance',
        last4: null,
        funds_fen: 20_000,
        per_txn_limit_fen: null,
      },
      {
        suffix: 'ccb_debit',
        kind: 'debit_card',
        bank_type: 'CCB_DEBIT',
        display_name: '建设银行储蓄卡 CCB debit',
        last4: '1288',
        funds_fen: 800_000,
        per_txn_limit_fen: 300_000,
      },
    ],
  },
  {
    user_id: 'usr_wangfang',
    account_age_days: 600,
    name: '王芳 Wang Fang',
    fixture: 'always_declined',
    instruments: [
      {
        suffix: 'abc_debit',
        kind: 'debit_card',
        bank_type: 'ABC_DEBIT',
        display_name: '农业银行储蓄卡 ABC debit',
        last4: '7310',
        funds_fen: 5_000_000,
        per_txn_limit_fen: null,
        always_declined: true,
      },
      {
        suffix: 'boc_credit',
        kind: 'credit_card',
        bank_type: 'BOC_CREDIT',
        display_name: '中国银行信用卡 BOC credit',
        last4: '5507',
        funds_fen: 5_000_000,
        per_txn_limit_fen: null,
        always_declined: true,
      },
    ],
  },
  {
    user_id: 'usr_liuyang',
    account_age_days: 400,
    name: '刘洋 Liu Yang',
    fixture: 'low_balance',
    instruments: [
      {
        suffix: 'balance',
        kind: 'balance',
        bank_type: 'OTHERS',
        display_name: '零钱 Wallet balance',
        last4: null,
        funds_fen: 100,
        per_txn_limit_fen: null,
      },
    ],
  },
];

export const issuer_account_id = 'acc_sandbox_issuer';
