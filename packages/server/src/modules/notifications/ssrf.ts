/**
 * SSRF screening of callback URLs (reliability.md §2.3, issue #4 §4): a merchant's notify_url
 * must not make Zhifu reach private, loopback, link-local, carrier-grade NAT or cloud metadata
 * addresses. The check runs on the address actually connected to (a custom DNS lookup), so
 * alternate spellings (2130706433, 0x7f.1, [::ffff:127.0.0.1]) and DNS rebinding fail alike;
 * redirects are never followed. Loopback may be allowed by the operator's sandbox setting.
 *
 * Address classes come from ipaddr.js (installed with Fastify), whose tables follow the IANA
 * special-purpose registries, rather than from CIDR lists of our own. An IPv4 address must be what
 * ipaddr.js calls plain unicast. An IPv6 address must be that too and global unicast (2000::/3,
 * RFC 4291 §2.4): this refuses the forms that carry an IPv4 address to wherever a translator or
 * relay sends it — IPv4-compatible `::a.b.c.d` (deprecated, RFC 4291 §2.5.5.1; ipaddr.js calls it
 * unicast), IPv4-translated `::ffff:0:a.b.c.d` (RFC 6145), NAT64 `64:ff9b::/96` and
 * `64:ff9b:1::/48` (RFC 6052, RFC 8215), 6to4 `2002::/16` (RFC 3056), Teredo `2001::/32`
 * (RFC 4380) — and site-local `fec0::/10`, discard `100::/64`, documentation `2001:db8::/32`.
 * Only IPv4-mapped `::ffff:a.b.c.d`, which the kernel connects as IPv4, is judged by its IPv4
 * address.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

const globalUnicast = ipaddr.parseCIDR('2000::/3');
/** Alibaba Cloud's metadata service sits in ordinary unicast space. */
const metadata = ipaddr.parse('100.100.100.200');

export function addressAllowed(address: string, allowLoopback: boolean): boolean {
  if (!isIP(address)) return false;
  // ipaddr.js reads the spelling `::a.b.c.d` (IPv4-compatible, which inet_ntop and c-ares print)
  // as IPv4-mapped `::ffff:a.b.c.d`, a different address; `0::a.b.c.d` it reads as written.
  let ip = ipaddr.parse(address.startsWith('::') && address.includes('.') ? `0${address}` : address);
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it maps.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  }
  const range = ip.range();
  if (range === 'loopback') return allowLoopback;
  if (range !== 'unicast') return false;
  if (ip.kind() === 'ipv4') return !ip.match(metadata, 32);
  return ip.match(globalUnicast);
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
