/**
 * SSRF screening of callback URLs (reliability.md §2.3, issue #4 §4): a merchant's notify_url
 * must not make Zhifu reach private, loopback, link-local, carrier-grade NAT or cloud metadata
 * addresses. The check runs on the address actually connected to (a custom DNS lookup), so
 * alternate spellings (2130706433, 0x7f.1, [::ffff:127.0.0.1]) and DNS rebinding fail alike;
 * redirects are never followed. Loopback may be allowed by the operator's sandbox setting.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
blocked.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
for (const [net, prefix] of [
  ['::', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it maps. */
function unmap(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function addressAllowed(address: string, allowLoopback: boolean): boolean {
  const { address: a, family } = unmap(address);
  if (loopback.check(a, family)) return allowLoopback;
  return !blocked.check(a, family);
}

/** A dns.lookup replacement for http.request that refuses forbidden addresses at connect time. */
export function guardedLookup(allowLoopback: boolean) {
  return (
    hostname: string,
    options: object,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !addressAllowed(a.address, allowLoopback));
      if (bad || list.length === 0) {
        const error: NodeJS.ErrnoException = new Error(
          `callback address ${bad?.address ?? '(none)'} is not allowed`,
        );
        error.code = 'ESSRF';
        return callback(error, []);
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** Early check of a URL's shape and literal address (the connect-time check is the real guard). */
export function screenUrl(raw: string, allowLoopback: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'only http and https are allowed';
  if (url.username || url.password) return 'credentials in the URL are not allowed';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !addressAllowed(host, allowLoopback)) return `address ${host} is not allowed`;
  if (!allowLoopback && /^(localhost|.*\.localhost)$/i.test(host)) return 'localhost is not allowed';
  return null;
}
