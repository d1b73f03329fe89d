import { describe, expect, it } from 'vitest';
import { mislabelled } from './detector.ts';
import { MARKER_GROUPS, MCC_PROFILES } from './mislabelled.ts';

describe('mislabelled', () => {
  it('flags a restaurant selling game point cards', () => {
    const r = mislabelled('游戏点卡 100元', '5812');
    expect(r.mislabelled).toBe(true);
    expect(r.expectedCategory).toMatch(/^5816 /);
    expect(r.reason).toContain('游戏点卡');
    expect(r.reason).toContain('5812');
  });

  it('forgives a weak marker next to the declared category’s own vocabulary', () => {
    expect(mislabelled('牛肉面套餐 送游戏点卡', '5812')).toEqual({ mislabelled: false, reason: null });
  });

  it('always flags strong markers (quasi-cash, loans) outside finance', () => {
    const r = mislabelled('牛肉面套餐 + USDT 500', '5812');
    expect(r.mislabelled).toBe(true);
    expect(r.expectedCategory).toMatch(/^6051 /);
    expect(mislabelled('loan repayment, March', '5691').mislabelled).toBe(true);
    expect(mislabelled('ＵＳＤＴ 兑换', '6051').mislabelled).toBe(false);
  });

  it('accepts markers where the declared MCC is compatible', () => {
    expect(mislabelled('中华烟 一条', '5411').mislabelled).toBe(false); // groceries sell cigarettes
    expect(mislabelled('购物卡 1000元', '5311').mislabelled).toBe(false); // department store gift cards
    expect(mislabelled('iPhone 15 Pro 256G', '5732').mislabelled).toBe(false);
    expect(mislabelled('游戏充值 648元', '5816').mislabelled).toBe(false);
  });

  it('flags other clear mismatches', () => {
    expect(mislabelled('iPhone 15 Pro 256G', '4121').mislabelled).toBe(true); // a taxi selling phones
    expect(mislabelled('话费充值 100元', '5691').expectedCategory).toMatch(/^4814 /);
    expect(mislabelled('金条 100g', '5812').expectedCategory).toMatch(/^5944 /);
    expect(mislabelled('Flight ticket PEK-SHA', '5411').expectedCategory).toMatch(/^4511 /);
    expect(mislabelled('加油卡充值 500', '5812').expectedCategory).toMatch(/^5541 /);
  });

  it('lets ordinary descriptions through', () => {
    expect(mislabelled('宫保鸡丁 米饭', '5812').mislabelled).toBe(false);
    expect(mislabelled('滴滴快车 车费 23.5元', '4121').mislabelled).toBe(false);
    expect(mislabelled('女士连衣裙 M码', '5691').mislabelled).toBe(false);
    expect(mislabelled('Grocery order: milk, eggs, bread', '5411').mislabelled).toBe(false);
    expect(mislabelled('', '5411').mislabelled).toBe(false);
  });

  it('has no opinion on MCCs it does not know', () => {
    expect(mislabelled('USDT 500', '7999')).toEqual({ mislabelled: false, reason: null });
  });

  it('respects boundaries and obfuscation like the screen', () => {
    expect(mislabelled('loaner umbrella', '5812').mislabelled).toBe(false);
    expect(mislabelled('遊戲點卡 100', '5812').mislabelled).toBe(true); // traditional
  });

  it('documents every expected category', () => {
    for (const g of MARKER_GROUPS) {
      expect(g.terms.length).toBeGreaterThan(0);
      expect(g.compatible).toContain(g.expected);
    }
    expect(Object.keys(MCC_PROFILES)).toEqual(
      expect.arrayContaining(['5411', '5812', '5732', '5999', '5311', '5691', '4121', '5816', '6051']),
    );
  });
});
