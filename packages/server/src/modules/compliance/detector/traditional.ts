/**
 * Compact traditional → simplified table, one character to one character.
 *
 * Why not `opencc-js`: OpenCC converts by phrase (longest-match over dictionaries of several MB), so
 * its output is not a per-character function of its input, which the normalizer needs to keep an
 * offset map back to the original text in one linear sweep; and screening a description must not pay
 * for a phrase trie walk per character. A character table covers what matters for detection: every
 * traditional form of a character used in the lexicon, the benign compounds and the MCC vocabularies,
 * plus the common characters around them. Characters whose simplification depends on the word
 * (著/着, 乾/干, 瞭/了, 藉/借) are left out on purpose. A test checks that every Han character of the
 * lexicon whose traditional form is listed here round-trips.
 *
 * Format: a string of pairs, traditional then simplified.
 */
const PAIRS =
  '賭赌場场樂乐機机時时註注幣币達达虛虚擬拟數数貨货礦矿視视頻频約约砲炮錢钱網网線线綫线開开莊庄籌筹碼码' +
  '輸输贏赢點点發发髮发實实體体動动門门館馆兒儿會会員员號号冊册帳账賬账戶户紅红級级電电腦脑術术藝艺圖图' +
  '黃黄愛爱侶侣師师務务東东車车對对鬥斗雞鸡將将寶宝運运盤盘賠赔賽赛馬马競竞無无極极與与專专業业為为從从' +
  '價价優优淨净鏈链鍊链區区塊块歐欧層层寫写劇剧講讲話话語语說说們们這这個个來来間间長长廣广買买賣卖財财' +
  '幾几億亿萬万過过還还進进選选週周預预測测撲扑贈赠禮礼證证錶表鐘钟銀银鑽钻鏡镜紙纸褲裤衛卫裝装飯饭麵面' +
  '魚鱼蝦虾湯汤飲饮煙烟藥药醫医療疗學学習习課课費费險险資资產产貸贷債债換换匯汇兌兑計计導导遊游戲戏總总' +
  '監监獎奖勵励頭头條条亂乱倫伦騷骚殺杀傳传幫帮準准確确認认請请謝谢讓让給给錯错覺觉聽听見见現现氣气節节' +
  '鹽盐醬酱蘋苹蔔卜蘿萝薑姜葉叶蘭兰質质狀状況况樣样顏颜衝冲漲涨穩稳賺赚虧亏損损額额餘余餵喂補补貼贴帶带' +
  '夠够標标題题類类廳厅劃划畫画勝胜負负彈弹槍枪獸兽龍龙鳳凤樓楼濟济態态驗验齊齐歡欢聞闻記记錄录結结構构' +
  '辦办處处銷销購购貿贸創创設设備备鋪铺櫃柜橋桥鐵铁絲丝織织組组維维纜缆軟软圓圆幀帧眾众衆众彙汇擊击壓压' +
  '據据營营辭辞騎骑駕驾駛驶趙赵孫孙陳陈劉刘楊杨張张鄭郑書书覽览屬属嚴严聯联關关閉闭閃闪幹干滿满滾滚漢汉' +
  '溫温濕湿災灾燈灯爐炉牆墙獨独環环瑪玛瓏珑畢毕盡尽盜盗礙碍禪禅穀谷窮穷竊窃筆笔範范簡简籃篮糧粮緊紧紀纪' +
  '納纳紐纽純纯細细終终絕绝經经綠绿緣缘編编練练縣县績绩繩绳繼继續续罰罚罵骂羅罗聖圣聲声膽胆臉脸舊旧艙舱' +
  '華华蓋盖藍蓝蘇苏蟲虫裡里裏里製制複复襪袜親亲觀观訂订訊讯託托訪访許许診诊詢询試试詳详誤误調调談谈論论' +
  '諮咨謀谋識识譯译議议讀读變变豐丰豬猪貓猫貝贝貢贡貧贫販贩貴贵賀贺賓宾賞赏賢贤賴赖贊赞讚赞趕赶趨趋跡迹' +
  '踐践躍跃軍军軌轨載载輕轻輪轮輛辆輯辑轉转農农違违遠远適适遲迟遷迁遺遗邊边鄉乡醜丑釋释針针釣钓鈔钞鈴铃' +
  '銅铜銘铭鋼钢錦锦鍋锅鍵键鎖锁鎮镇閒闲閱阅闆板陣阵陰阴陸陆陽阳隊队際际隨随隱隐雖虽雙双雜杂離离難难雲云' +
  '靈灵靜静頁页頂顶項项順顺須须領领願愿顧顾顯显風风飛飞飽饱餅饼養养駐驻騙骗驚惊鬧闹鮮鲜鳥鸟鴨鸭鹹咸麥麦' +
  '黨党齒齿龜龟腳脚膚肤臨临興兴舉举蔥葱襯衬規规觸触訓训討讨貫贯賦赋蹤踪較较邏逻郵邮釐厘鑰钥鑑鉴閘闸隻只' +
  '韓韩響响頒颁頓顿頸颈頗颇顆颗颱台臺台檯台飄飘驅驱鬆松魯鲁鳴鸣麗丽黴霉齋斋澀涩媽妈嬰婴寧宁尋寻屆届岡冈' +
  '島岛峽峡崗岗嶺岭廠厂張张強强當当徑径復复徵征憂忧慣惯慮虑憑凭應应懷怀戀恋戰战拋抛掃扫掛挂採采揚扬搖摇' +
  '擁拥擇择擔担擠挤擴扩攝摄敗败敵敌斂敛斷断於于晉晋暫暂曆历曉晓楓枫榮荣樁桩樞枢樹树橫横檔档檢检權权歲岁' +
  '歷历歸归殘残殼壳毀毁決决沒没沖冲淚泪淺浅湧涌溝沟滅灭滬沪漁渔潔洁潛潜潤润澤泽濃浓濤涛灣湾烏乌煉炼煩烦' +
  '熱热燒烧爭争爺爷牽牵犧牺猶犹獄狱獲获獵猎異异疊叠瘋疯癢痒皺皱盃杯矯矫磚砖礎础禍祸禦御種种稱称稅税窩窝' +
  '築筑篩筛簽签縮缩繳缴罷罢聰聪職职肅肃脅胁膠胶艱艰螢萤蠟蜡襲袭訴诉詞词該该誕诞誠诚誰谁諾诺護护貪贪贖赎' +
  '遞递遙遥釘钉鉛铅鋒锋鏟铲鬱郁麼么齡龄嗎吗噸吨團团園园圍围國国壞坏壺壶夢梦夥伙奪夺奮奋娛娱婦妇寬宽僅仅' +
  '儀仪儲储兩两內内凍冻劑剂勁劲勞劳勢势協协單单卻却厲厉參参吳吴問问啟启喪丧喬乔嚇吓嘗尝噴喷塗涂塵尘墊垫' +
  '壇坛壯壮壽寿夾夹奧奥嬌娇寢寝寵宠審审屍尸嶼屿庫库廁厕廢废彎弯後后徹彻恆恒惡恶惱恼慘惨慶庆憐怜憤愤懶懒' +
  '懼惧挾挟捨舍掙挣揀拣撈捞撐撑撥拨撫抚擋挡擺摆攔拦攜携暈晕曬晒棄弃棟栋橢椭欄栏滯滞滲渗滷卤漿浆潑泼澆浇' +
  '濺溅瀉泻灑洒灘滩爛烂狹狭瑣琐瓊琼畝亩瘡疮癡痴盞盏祿禄稈秆竄窜筍笋箏筝簾帘糰团紗纱紛纷紮扎絨绒絡络統统' +
  '綁绑綜综綢绸綱纲緒绪緩缓緯纬縫缝縱纵繞绕繪绘繫系纏缠罈坛羨羡聳耸膩腻臘腊艦舰艷艳豔艳莖茎蓮莲蔣蒋蕩荡' +
  '薦荐薩萨蘆芦蘊蕴蝕蚀蠅蝇蠶蚕褲裤襖袄覓觅評评詐诈詩诗誇夸誌志誘诱諒谅謊谎謎谜謙谦謠谣譜谱豈岂豎竖貞贞' +
  '貳贰貶贬賄贿賊贼賜赐賤贱贓赃軀躯軒轩輔辅輝辉輩辈轄辖轎轿辯辩遜逊邁迈醞酝釀酿鈍钝鉤钩銳锐錘锤鍛锻鎊镑' +
  '鏽锈鐲镯鑄铸閣阁閥阀闊阔闖闯陝陕隕陨霧雾韌韧頌颂頑顽頰颊顫颤飼饲飾饰餃饺饅馒饒饶馮冯駁驳騰腾驕骄驢驴' +
  '髒脏鬍胡鯨鲸鱗鳞鴻鸿鵝鹅鷹鹰鹼碱齣出龐庞嫖嫖娼娼淫淫鏢镖嬪嫔婬淫裸裸';

/** Maps a traditional code unit to its simplified one (0 = no entry). */
export const traditionalToSimplified: Uint16Array = (() => {
  const table = new Uint16Array(0x10000);
  for (let i = 0; i + 1 < PAIRS.length; i += 2) {
    const from = PAIRS.charCodeAt(i);
    const to = PAIRS.charCodeAt(i + 1);
    if (from !== to) table[from] = to;
  }
  return table;
})();

/** The table as pairs (for tests and docs). */
export function traditionalPairs(): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < PAIRS.length; i += 2) {
    if (PAIRS[i] !== PAIRS[i + 1]) out.push([PAIRS[i]!, PAIRS[i + 1]!]);
  }
  return out;
}
