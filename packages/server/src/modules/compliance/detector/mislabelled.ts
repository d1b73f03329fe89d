/**
 * The "mislabelled transaction" check: does a transaction description fit the merchant's declared
 * category (ISO 18245 merchant category code)?
 *
 * Conservative by design; it flags only clear cases:
 *
 * 1. The declared MCC must be one of {@link MCC_PROFILES}; for any other MCC the check has no opinion
 *    (not mislabelled, reason null).
 * 2. The description is searched (same normalization and matcher as the restricted-category screen)
 *    for *markers*: terms that strongly belong to one kind of business ({@link MARKER_GROUPS}: game
 *    top-ups / point cards, prepaid and gift cards, phone top-ups, fuel, bullion, air tickets, hotel
 *    nights, tobacco and liquor, electronics, tuition, medical fees, insurance premiums, loan
 *    repayments, quasi-cash and currency exchange, ride fares).
 * 3. A marker whose group lists the declared MCC as compatible is fine (a grocery may sell cigarettes,
 *    a department store gift cards, an electronics store game cards).
 * 4. An incompatible marker makes the transaction mislabelled when
 *      - its group is *strong* (quasi-cash / currency exchange, loan repayment: no ordinary merchant
 *        outside finance takes these), or
 *      - the description contains none of the declared MCC's own vocabulary ({@link MCC_PROFILES}
 *        `allow`): "牛肉面套餐 送游戏点卡" at a restaurant is a promotion, "游戏点卡 100元" is not.
 *    The first such marker in the text gives the reason and the expected category.
 *
 * Restricted content itself (gambling, crypto, adult) is the screen's job, not this check's; the
 * compliance flow freezes a merchant on either.
 */
import { type PhraseInput, PhraseMatcher } from './matcher.ts';
import { normalize } from './normalize.ts';

export interface MislabelledResult {
  mislabelled: boolean;
  reason: string | null;
  /** When mislabelled: the category the description points to, e.g. "5816 digital goods / games". */
  expectedCategory?: string;
}

export interface MccProfile {
  name: string;
  /** Vocabulary that shows the description is about this kind of business. */
  allow: readonly string[];
}

/** Declared MCCs the check knows (ISO 18245). */
export const MCC_PROFILES: Readonly<Record<string, MccProfile>> = {
  '5411': {
    name: 'grocery stores, supermarkets',
    allow: [
      '蔬菜',
      '水果',
      '大米',
      '食用油',
      '牛奶',
      '鸡蛋',
      '零食',
      '饮料',
      '矿泉水',
      '面包',
      '猪肉',
      '牛肉',
      '生鲜',
      '超市',
      '日用品',
      '纸巾',
      '洗衣液',
      'grocery',
      'groceries',
      'milk',
      'eggs',
      'bread',
      'vegetables',
      'fruit',
      'snacks',
    ],
  },
  '5812': {
    name: 'eating places, restaurants',
    allow: [
      '套餐',
      '堂食',
      '外卖',
      '米饭',
      '面条',
      '拉面',
      '牛肉面',
      '炒饭',
      '火锅',
      '烧烤',
      '奶茶',
      '咖啡',
      '饮料',
      '菜品',
      '餐费',
      '餐位',
      '包间',
      'meal',
      'dinner',
      'lunch',
      'breakfast',
      'burger',
      'pizza',
      'coffee',
      'noodles',
      'menu',
    ],
  },
  '5814': {
    name: 'fast food restaurants',
    allow: ['套餐', '汉堡', '薯条', '炸鸡', '可乐', '外卖', 'meal', 'burger', 'fries', 'combo'],
  },
  '5732': {
    name: 'electronics stores',
    allow: [
      '手机',
      '电脑',
      '耳机',
      '充电器',
      '数据线',
      '显示器',
      '键盘',
      '鼠标',
      '相机',
      '电视',
      'phone',
      'laptop',
      'cable',
      'charger',
      'headphones',
      'monitor',
    ],
  },
  '5999': {
    name: 'miscellaneous and specialty retail',
    allow: ['商品', '礼品', '饰品', '文具', '杂货', '日用', 'goods', 'gift', 'accessories', 'item'],
  },
  '5311': {
    name: 'department stores',
    allow: ['商场', '百货', '服装', '化妆品', '鞋', '家居', 'department store', 'apparel', 'cosmetics'],
  },
  '5691': {
    name: "men's and women's clothing stores",
    allow: [
      '上衣',
      '裤',
      '裙',
      '外套',
      't恤',
      '衬衫',
      '毛衣',
      '卫衣',
      '鞋',
      '袜',
      '尺码',
      'shirt',
      'jeans',
      'dress',
      'jacket',
      'coat',
      'hoodie',
      'size',
    ],
  },
  '4121': {
    name: 'taxicabs and limousines',
    allow: [
      '打车',
      '车费',
      '行程',
      '出租车',
      '网约车',
      '里程',
      '公里',
      '起步价',
      'ride',
      'taxi',
      'fare',
      'trip',
    ],
  },
  '5816': {
    name: 'digital goods: games',
    allow: ['游戏', '点卡', '充值', '会员', '皮肤', '道具', 'game', 'credits', 'in-app', 'subscription'],
  },
  '6051': {
    name: 'quasi-cash: non-financial institutions (foreign currency, money orders, travellers cheques)',
    allow: ['兑换', '外币', '汇款', 'exchange', 'money order', 'travellers cheque'],
  },
  '5541': { name: 'service stations', allow: ['加油', '汽油', '柴油', '洗车', 'fuel', 'gas', 'car wash'] },
  '7011': {
    name: 'lodging: hotels, motels, resorts',
    allow: ['住宿', '房费', '酒店', '客房', 'hotel', 'room'],
  },
  '4814': {
    name: 'telecommunication services',
    allow: ['话费', '流量', '宽带', '套餐', 'top-up', 'data plan'],
  },
  '5944': {
    name: 'jewelry, watch, clock and silverware stores',
    allow: ['黄金', '项链', '戒指', '手镯', 'gold'],
  },
  '8299': { name: 'schools and educational services', allow: ['课程', '学费', '培训', 'course', 'tuition'] },
  '5912': { name: 'drug stores and pharmacies', allow: ['药', '药品', '药店', 'pharmacy', 'medicine'] },
};

export interface MarkerGroup {
  /** Where the marker points: an MCC and a label. */
  expected: string;
  label: string;
  /** Declared MCCs where these terms are ordinary. */
  compatible: readonly string[];
  /** Flag even when the description also has the declared MCC's vocabulary. */
  strong: boolean;
  terms: readonly string[];
}

export const MARKER_GROUPS: readonly MarkerGroup[] = [
  {
    expected: '6051',
    label: 'quasi-cash / currency exchange',
    compatible: ['6051', '6010', '6011', '6012', '4829'],
    strong: true,
    terms: [
      'usdt',
      '承兑',
      '代付',
      '换汇',
      '套现',
      '跑分',
      '外币兑换',
      'cash out',
      'currency exchange',
      'money order',
    ],
  },
  {
    expected: '6012',
    label: 'loans and repayments',
    compatible: ['6012', '6051', '6211', '6010', '6011'],
    strong: true,
    terms: ['贷款', '借款', '还款', '分期还款', 'loan repayment', 'loan'],
  },
  {
    expected: '5816',
    label: 'digital goods / games',
    compatible: ['5816', '5815', '5817', '5818', '5999', '5311', '5732', '5734', '5945'],
    strong: false,
    terms: [
      '游戏点卡',
      '点卡',
      '游戏充值',
      '充值卡',
      'q币',
      '游戏账号',
      '钻石充值',
      'steam充值',
      'game credits',
      'steam wallet',
    ],
  },
  {
    expected: '6540',
    label: 'prepaid / gift cards',
    compatible: ['6540', '5311', '5411', '5999', '6051', '5816', '5732'],
    strong: false,
    terms: ['购物卡', '礼品卡', '储值卡', '超市卡', 'gift card', 'prepaid card'],
  },
  {
    expected: '4814',
    label: 'telecommunication top-ups',
    compatible: ['4814', '4812', '4816', '4899', '5999', '5732', '5311'],
    strong: false,
    terms: ['话费充值', '话费', '流量包', '流量充值', 'phone top-up', 'mobile top-up'],
  },
  {
    expected: '5541',
    label: 'fuel',
    compatible: ['5541', '5542', '5983', '5172'],
    strong: false,
    terms: ['加油卡', '汽油', '柴油', 'fuel card', 'gasoline', 'diesel'],
  },
  {
    expected: '5944',
    label: 'gold bullion / jewelry',
    compatible: ['5944', '5094', '5311', '5999', '6051'],
    strong: false,
    terms: ['金条', '投资金', '黄金回收', '银条', 'gold bar', 'bullion'],
  },
  {
    expected: '4511',
    label: 'air travel',
    compatible: ['4511', '4722', '4582'],
    strong: false,
    terms: ['机票', '航班', 'air ticket', 'flight ticket', 'airfare'],
  },
  {
    expected: '7011',
    label: 'lodging',
    compatible: ['7011', '7012', '4722', '7032', '7033'],
    strong: false,
    terms: ['酒店住宿', '房费', '住宿费', 'hotel room', 'room night'],
  },
  {
    expected: '5993',
    label: 'tobacco and liquor',
    compatible: ['5993', '5921', '5411', '5311', '5499', '5812', '5813', '5814', '5999', '5441', '5422'],
    strong: false,
    terms: ['香烟', '整条烟', '中华烟', '茅台', '五粮液', 'cigarettes', 'whisky'],
  },
  {
    expected: '5732',
    label: 'electronics',
    compatible: ['5732', '5722', '5045', '5946', '5311', '5999', '5399', '4812'],
    strong: false,
    terms: [
      'iphone',
      'ipad',
      'macbook',
      '笔记本电脑',
      '显卡',
      '平板电脑',
      '智能手机',
      'laptop',
      'graphics card',
      'smartphone',
      'playstation',
      'xbox',
    ],
  },
  {
    expected: '8299',
    label: 'education',
    compatible: ['8299', '8220', '8211', '8241', '8244', '8249', '8351', '5942'],
    strong: false,
    terms: ['学费', '培训费', '课程费', 'tuition', 'course fee'],
  },
  {
    expected: '8099',
    label: 'medical services',
    compatible: [
      '8011',
      '8021',
      '8031',
      '8041',
      '8042',
      '8043',
      '8049',
      '8050',
      '8062',
      '8071',
      '8099',
      '5912',
      '5122',
    ],
    strong: false,
    terms: ['挂号费', '处方药', '诊疗费', '手术费', 'prescription', 'consultation fee'],
  },
  {
    expected: '6300',
    label: 'insurance',
    compatible: ['6300', '6381', '6399', '6012'],
    strong: false,
    terms: ['保险费', '保费', 'insurance premium'],
  },
  {
    expected: '4121',
    label: 'taxi and ride-hailing',
    compatible: ['4121', '4111', '4131', '4789', '4722'],
    strong: false,
    terms: ['打车费', '网约车费', 'taxi fare', 'ride fare'],
  },
];

const mccLabel = (mcc: string): string => {
  const p = MCC_PROFILES[mcc];
  if (p) return `${mcc} ${p.name}`;
  const g = MARKER_GROUPS.find((m) => m.expected === mcc);
  return g ? `${mcc} ${g.label}` : mcc;
};

interface Entry {
  kind: 'marker' | 'allow';
  term: string;
  /** marker: group index; allow: MCC. */
  group: number;
  mcc: string;
}

class MislabelledChecker {
  readonly #entries: Entry[] = [];
  readonly #matcher: PhraseMatcher;

  constructor() {
    const phrases: PhraseInput[] = [];
    const add = (e: Entry) => {
      const id = this.#entries.length;
      this.#entries.push(e);
      const latin = /^[a-z0-9]+$/.test(normalize(e.term).text);
      phrases.push({ id, form: e.term, boundary: latin });
    };
    MARKER_GROUPS.forEach((g, group) => {
      for (const term of g.terms) add({ kind: 'marker', term, group, mcc: g.expected });
    });
    for (const [mcc, p] of Object.entries(MCC_PROFILES)) {
      for (const term of p.allow) add({ kind: 'allow', term, group: -1, mcc });
    }
    this.#matcher = new PhraseMatcher(phrases);
  }

  check(description: string, declaredMcc: string): MislabelledResult {
    const profile = MCC_PROFILES[declaredMcc];
    if (!profile) return { mislabelled: false, reason: null };
    let fitsDeclared = false;
    const offending: { entry: Entry; start: number; original: string }[] = [];
    this.#matcher.run(description, (id, start, end) => {
      const e = this.#entries[id]!;
      if (e.kind === 'allow') {
        if (e.mcc === declaredMcc) fitsDeclared = true;
        return;
      }
      const g = MARKER_GROUPS[e.group]!;
      if (!g.compatible.includes(declaredMcc)) {
        offending.push({ entry: e, start, original: description.slice(start, end) });
      }
    });
    offending.sort((a, b) => a.start - b.start);
    for (const o of offending) {
      const g = MARKER_GROUPS[o.entry.group]!;
      if (!g.strong && fitsDeclared) continue;
      return {
        mislabelled: true,
        reason:
          `description mentions '${o.original}' (${g.label}), which does not fit the declared MCC ` +
          `${declaredMcc} (${profile.name})${g.strong ? '' : ' and has nothing of that category'}`,
        expectedCategory: mccLabel(g.expected),
      };
    }
    return { mislabelled: false, reason: null };
  }
}

let checker: MislabelledChecker | undefined;

/**
 * Whether a transaction description does not fit the merchant's declared MCC (see the module comment
 * for the exact rule). Unknown MCCs are never flagged.
 */
export function mislabelled(description: string, declaredMcc: string): MislabelledResult {
  checker ??= new MislabelledChecker();
  return checker.check(description, declaredMcc);
}
