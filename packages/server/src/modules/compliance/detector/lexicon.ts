/**
 * Restricted-category lexicon: keywords per category with weights, boundary flags, pinyin and
 * benign compounds. See docs/compliance-detector.md for the rules; in short:
 *
 * - A text is a hit for a category when the weights of the *distinct* keywords of that category found
 *   in it add up to at least {@link HIT_THRESHOLD}. Unambiguous terms weigh 1 and decide alone;
 *   ambiguous ones (菠菜 spinach / 博彩 slang, 'bet', 'xxx', 'escort', 'nude', 赔率, 挖矿, 矿机 …)
 *   weigh less and need a second signal of the same category.
 * - `boundary`: Latin ends of the match must sit on a word boundary (start/end of text, a removed
 *   separator, or a change between letter, digit and anything else), so 'bet' does not fire in
 *   "better"/"alphabet", 'eth' in "ethernet"/"ethics", 'btc' in "btcc", 'xxx' in "xxxl". Default: true
 *   for Latin terms of at most 4 letters, for pinyin forms of at most 7 letters, false otherwise.
 * - `pinyin`: syllables (space separated, one per Han character). Adds the pure pinyin form ("du bo")
 *   and, for terms of at most 4 characters, every mixed form ("du博", "赌bo"); all count as the same
 *   keyword. `pinyinWeight` overrides the weight of the pure pinyin form (e.g. yuanjiao is also 圆角).
 * - `variants`: other spellings of the same keyword (initials such as 'bjl', homophones such as 涩情).
 *   Initials-only abbreviations are listed only where they are unambiguous (bjl 百家乐, xnb 虚拟币);
 *   ssc, lhc, bc, sq, yp, btb are not (SSC exams, the LHC, BC, …).
 * - `benign`: compounds that contain or overlap the keyword but are ordinary; a match overlapping an
 *   occurrence of one of them is dropped (赌博 in 打赌博物馆…, 下注 in 以下注意事项, 色情 in 特色情侣套餐,
 *   彩金 in 18K彩金项链, 援交 in 支援交通, 币安 in 人民币安全, 性交易 in 一次性交易).
 *
 * Deliberate non-keywords: 赌 alone (赌气, 打赌), 币 alone (人民币, 游戏币, 纪念币), 彩票 / lottery (福利彩票
 * and 体育彩票 are sold by licensed outlets), 比特 (比特率 bitrate), 以太 (以太网 Ethernet), 成人 alone
 * (成人教育, 成人纸尿裤, 成人票), 成人用品 (adult products such as condoms are legal retail; the category
 * is adult *content and services*), 区块链 and 数字藏品 alone (legal), 斗地主 / 麻将 (ordinary games).
 */

export type Category = 'gambling' | 'cryptocurrency' | 'adult';
export const CATEGORIES: readonly Category[] = ['gambling', 'cryptocurrency', 'adult'];

/** Score at which a category is a hit. */
export const HIT_THRESHOLD = 1;

export interface KeywordVariant {
  form: string;
  boundary?: boolean;
}

export interface KeywordDef {
  /** Display form; matched after normalization. */
  term: string;
  weight: number;
  boundary?: boolean;
  pinyin?: string;
  pinyinWeight?: number;
  variants?: readonly (string | KeywordVariant)[];
  benign?: readonly string[];
}

type Extra = Omit<KeywordDef, 'term' | 'weight'>;
const k = (term: string, weight: number, extra: Extra = {}): KeywordDef => ({ term, weight, ...extra });

const GAMBLING: readonly KeywordDef[] = [
  k('赌博', 1, { pinyin: 'du bo', benign: ['打赌博', '博物馆', '博物院', '博览会', '博士', '博主'] }),
  k('博彩', 1, { pinyin: 'bo cai' }),
  k('菠菜', 0.4), // slang homophone of 博彩, and spinach
  k('赌场', 1, { pinyin: 'du chang', benign: ['打赌场', '赌场风云'] }), // 赌场风云: a TV series title
  k('百家乐', 1, { pinyin: 'bai jia le', variants: [{ form: 'bjl', boundary: true }] }),
  k('老虎机', 1, { pinyin: 'lao hu ji', benign: ['老虎机器', '机器人', '机关'] }),
  k('六合彩', 1, { pinyin: 'liu he cai', benign: ['彩虹', '六合区'] }), // 六合 is also a district of Nanjing
  k('时时彩', 1, { pinyin: 'shi shi cai' }),
  k('下注', 1, {
    pinyin: 'xia zhu',
    benign: [
      '注意',
      '注明',
      '注释',
      '注册',
      '注解',
      '注重',
      '注射',
      '注视',
      '注销',
      '注塑',
      '注水',
      '注入',
      '注目',
    ],
  }),
  k('赌球', 1, { pinyin: 'du qiu' }),
  k('赌钱', 1, { pinyin: 'du qian' }),
  k('网赌', 1, { pinyin: 'wang du' }),
  k('赌资', 1),
  k('赌马', 1),
  k('赌局', 0.6),
  k('赌徒', 0.5),
  k('赌狗', 0.6),
  k('赌注', 0.4), // 押上全部赌注 is an idiom
  k('彩金', 0.4, {
    benign: ['k彩金', '彩金项链', '彩金戒指', '彩金手链', '彩金耳', '彩金首饰', '彩金吊坠', '彩金手镯'],
  }),
  k('送彩金', 0.6),
  k('押注', 0.5), // 押注新能源: "bets on" in business news
  k('投注', 0.8, { benign: ['投注站', '彩票投注', '体彩投注', '福彩投注'] }),
  k('体育投注', 1),
  k('赔率', 0.4),
  k('庄家', 0.4),
  k('筹码', 0.3),
  k('荷官', 0.8, { pinyin: 'he guan' }),
  k('真人荷官', 1),
  k('真人视讯', 1),
  k('棋牌', 0.3),
  k('德州扑克', 0.6),
  k('炸金花', 1, { pinyin: 'zha jin hua' }),
  k('牛牛', 0.3),
  k('电子游艺', 0.6),
  k('娱乐城', 0.6),
  k('葡京', 0.5),
  k('上分', 0.3),
  k('下分', 0.3),
  k('开户送', 0.5),
  k('首充', 0.3),
  k('私彩', 0.8),
  k('洗码', 0.8),
  k('盘口', 0.3),
  k('彩票代购', 0.6),
  k('轮盘', 0.4, { benign: ['抽奖轮盘'] }),
  k('骰宝', 1),
  k('casino', 1, { benign: ['casino royale'], variants: ['casinos'] }),
  k('baccarat', 1, { benign: ['baccarat rouge', 'baccarat crystal', 'baccarat glass'] }),
  k('roulette', 1, { benign: ['russian roulette'] }),
  k('sportsbook', 1),
  k('betting', 1, { boundary: true }),
  k('sports betting', 1, { variants: ['online betting', 'betting site', 'betting odds'] }),
  k('bet', 0.5),
  k('bets', 0.5),
  k('place bet', 1, { variants: ['place a bet', 'place your bet', 'place bets'] }),
  k('gambling', 1),
  k('gamble', 0.5, { boundary: true }),
  k('gambler', 0.5),
  k('poker chips', 0.6),
  k('online poker', 1),
  k('real money poker', 1),
  k('slot machine', 1),
  k('online slots', 1),
  k('slots', 0.4, { boundary: true }),
  k('free spins', 0.8),
  k('jackpot', 0.4, { boundary: true }),
  k('blackjack', 0.6),
  k('bookie', 0.6, { boundary: true }),
  k('bookmaker', 0.6),
  k('wager', 0.5, { boundary: true }),
  k('wagering', 0.6),
  k('sic bo', 1, { boundary: true }),
  k('pachinko', 0.6),
  k('mark six', 1),
  k('parlay', 0.4, { boundary: true }),
  k('craps', 0.5, { boundary: true }),
  k('live dealer', 0.8),
  k('bet365', 1),
  k('1xbet', 1),
  k('betway', 1),
];

const CRYPTO: readonly KeywordDef[] = [
  k('比特币', 1, { pinyin: 'bi te bi' }),
  k('以太坊', 1, { pinyin: 'yi tai fang' }),
  k('泰达币', 1, { pinyin: 'tai da bi' }),
  k('虚拟币', 1, {
    pinyin: 'xu ni bi',
    variants: [{ form: 'xnb', boundary: true }],
    benign: ['游戏虚拟币', '游戏内虚拟币'],
  }),
  k('虚拟货币', 1, { pinyin: 'xu ni huo bi' }),
  k('加密货币', 1, { pinyin: 'jia mi huo bi' }),
  k('数字货币', 0.5, { benign: ['法定数字货币', '央行数字货币'] }),
  k('数字货币交易', 0.7),
  k('挖矿', 0.5, { pinyin: 'wa kuang' }),
  k('矿机', 0.6, { benign: ['矿机械', '矿机电', '煤矿机', '矿机车', '矿机具'] }),
  k('矿池', 0.6),
  k('币圈', 1, { pinyin: 'bi quan', benign: ['纪念币圈', '硬币圈'] }),
  k('炒币', 1, { pinyin: 'chao bi' }),
  k('交易所充值', 0.8),
  k('币安', 1, { benign: ['币安全', '币安置', '币安心'] }),
  k('火币', 1),
  k('欧易', 0.8),
  k('狗狗币', 1, { pinyin: 'gou gou bi' }),
  k('莱特币', 1),
  k('瑞波币', 1),
  k('稳定币', 0.8),
  k('空投', 0.3),
  k('钱包地址', 0.4),
  k('助记词', 0.8),
  k('私钥', 0.3),
  k('链上转账', 0.6),
  k('合约交易', 0.5),
  k('区块链', 0.3),
  k('u商', 0.8, { boundary: true }),
  k('usdt', 1),
  k('usdc', 1),
  k('bitcoin', 1, { variants: ['bitcoins'] }),
  k('btc', 1),
  k('ethereum', 1),
  k('eth', 0.6, { benign: ['eth zurich'] }),
  k('tether', 0.5, { boundary: true }),
  k('crypto', 0.6, { boundary: true, variants: [{ form: 'cryptos', boundary: true }] }),
  k('cryptocurrency', 1, { variants: ['cryptocurrencies'] }),
  k('crypto exchange', 1),
  k('crypto wallet', 1),
  k('nft', 0.6),
  k('nft mint', 1, { variants: ['mint nft', 'mint an nft'] }),
  k('altcoin', 1),
  k('dogecoin', 1),
  k('litecoin', 1),
  k('binance', 1),
  k('coinbase', 1),
  k('metamask', 1),
  k('stablecoin', 0.8),
  k('defi', 0.5),
  k('web3', 0.4, { boundary: true }),
  k('airdrop', 0.3, { boundary: true }),
  k('seed phrase', 0.8),
  k('mining rig', 0.6),
  k('hashrate', 0.5),
  k('satoshi', 0.5, { boundary: true }),
  k('token presale', 0.8),
  k('trc20', 0.8, { boundary: true }),
  k('erc20', 0.6, { boundary: true }),
  k('cold wallet', 0.5),
];

const ADULT: readonly KeywordDef[] = [
  k('色情', 1, {
    pinyin: 'se qing',
    variants: ['涩情', '瑟情'],
    benign: [
      '特色情',
      '角色情',
      '景色情',
      '出色情',
      '彩色情',
      '红色情',
      '绿色情',
      '白色情',
      '夜色情',
      '本色情',
      '色情侣',
      '色情绪',
      '色情况',
      '色情怀',
      '色情感',
      '反色情',
      '打击色情',
      '举报色情',
      '拒绝色情',
    ],
  }),
  k('成人视频', 1, { pinyin: 'cheng ren shi pin' }),
  k('成人影片', 1),
  k('成人电影', 1, { benign: ['成人电影票'] }),
  k('成人直播', 1),
  k('成人网站', 1),
  k('裸聊', 1, { pinyin: 'luo liao' }),
  k('约炮', 1, { pinyin: 'yue pao' }),
  k('援交', 1, { pinyin: 'yuan jiao', pinyinWeight: 0.5, benign: ['援交通', '援交流', '援交付', '援交接'] }),
  k('援助交际', 1),
  k('黄片', 1, { pinyin: 'huang pian', benign: ['大黄片', '姜黄片', '蛋黄片'] }),
  k('黄色视频', 1, { benign: ['视频背景', '视频素材', '视频模板'] }),
  k('黄色网站', 1),
  k('三级片', 1),
  k('av女优', 1, { boundary: true }),
  k('一夜情', 0.8),
  k('外围女', 1),
  k('楼凤', 1),
  k('包夜', 0.5),
  k('陪睡', 1),
  k('卖淫', 1),
  k('嫖娼', 1),
  k('嫖客', 1),
  k('小姐上门', 1),
  k('上门服务', 0.3),
  k('特殊服务', 0.5),
  k('性服务', 0.6, { benign: ['男性服务', '女性服务', '个性服务', '弹性服务', '柔性服务', '综合性服务'] }),
  k('性交易', 0.6, {
    benign: [
      '一次性交易',
      '临时性交易',
      '实质性交易',
      '经常性交易',
      '关联性交易',
      '投机性交易',
      '突破性交易',
    ],
  }),
  k('情色', 0.6),
  k('裸照', 0.6),
  k('福利视频', 0.5),
  k('色播', 1),
  k('黄播', 1),
  k('porn', 1, { boundary: false }),
  k('xxx', 0.5),
  k('xxx video', 1, { variants: ['xxx videos', 'xxx movie', 'xxx cam'] }),
  k('escort', 0.5, {
    boundary: true,
    variants: [{ form: 'escorts', boundary: true }],
    benign: ['ford escort', 'police escort', 'escort carrier', 'escort vehicle', 'escort ship'],
  }),
  k('escort service', 1, { variants: ['escort services', 'escort girl', 'escort girls'] }),
  k('camgirl', 1),
  k('sex chat', 1),
  k('sexcam', 1),
  k('sex video', 1),
  k('sex tape', 1),
  k('sex', 0.4),
  k('nude', 0.5),
  k('nudes', 0.8, { boundary: true }),
  k('nude photos', 1, { variants: ['nude video', 'nude videos', 'nude pics'] }),
  k('onlyfans', 0.8),
  k('hentai', 1),
  k('erotic', 0.5),
  k('adult video', 1, { variants: ['adult videos', 'adult site', 'adult chat', 'adult webcam'] }),
  k('adult content', 0.8),
  k('nsfw', 0.6),
  k('hookup', 0.5, { boundary: true }),
  k('call girl', 1),
  k('prostitute', 1, { variants: ['prostitution'] }),
  k('brothel', 1),
  k('strip club', 0.8),
  k('stripper', 0.5),
  k('happy ending massage', 1),
  k('milf', 1),
  k('fetish', 0.4),
  k('xvideos', 1),
];

export const LEXICON: Readonly<Record<Category, readonly KeywordDef[]>> = {
  gambling: GAMBLING,
  cryptocurrency: CRYPTO,
  adult: ADULT,
};
