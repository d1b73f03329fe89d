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
 *
 * Host names are resolved with c-ares (`dns.Resolver`), not `dns.lookup`: getaddrinfo runs in
 * libuv's 4-thread pool and cannot be cancelled, so a notify_url whose DNS never answered held a
 * pool thread past its attempt's deadline, and a few such URLs stalled RSA signing (also in the
 * pool) for every merchant. c-ares queries run on the event loop, and the attempt's deadline ends
 * them with `cancel()`. The price is that /etc/hosts is not read: `localhost` and `*.localhost`
 * are loopback by definition (RFC 6761 §6.3) and answered here, and IP literals need no DNS.
 */
import type { LookupAddress } from 'node:dns';
import { Resolver } from 'node:dns/promises';
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

/** What the guarded lookup needs of a DNS resolver; `dns.promises.Resolver` is one. */
export interface HostResolver {
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
  /** Ends the resolver's outstanding queries (they reject with ECANCELLED). */
  cancel(): void;
}

/** A c-ares resolver for one attempt: one try, within the attempt's deadline. */
export function dnsResolver(timeoutMs: number): HostResolver {
  return new Resolver({ timeout: timeoutMs, tries: 1 });
}

/**
 * A resolver made on its first query: most notify_urls of a sandbox or a test are IP literals or
 * `localhost`, which need no DNS, and a c-ares channel per attempt costs ~20 µs for nothing.
 */
export function lazyResolver(make: () => HostResolver): HostResolver {
  let made: HostResolver | undefined;
  const resolver = () => {
    made ??= make();
    return made;
  };
  return {
    resolve4: (hostname) => resolver().resolve4(hostname),
    resolve6: (hostname) => resolver().resolve6(hostname),
    cancel: () => made?.cancel(),
  };
}

const localhost = /^(localhost|.*\.localhost)\.?$/i;

async function resolveHost(
  resolver: HostResolver,
  hostname: string,
  family: number,
): Promise<LookupAddress[]> {
  const literal = isIP(hostname);
  if (literal) return [{ address: hostname, family: literal }];
  const want4 = family !== 6;
  const want6 = family !== 4;
  if (localhost.test(hostname)) {
    return [
      ...(want4 ? [{ address: '127.0.0.1', family: 4 }] : []),
      ...(want6 ? [{ address: '::1', family: 6 }] : []),
    ];
  }
  // Both families are asked for and all answers checked: a host must not hide a private address
  // behind a public one of the other family.
  const [v4, v6] = await Promise.allSettled([
    want4 ? resolver.resolve4(hostname) : Promise.resolve([]),
    want6 ? resolver.resolve6(hostname) : Promise.resolve([]),
  ]);
  const list: LookupAddress[] = [
    ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 })) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 })) : []),
  ];
  if (list.length > 0) return list;
  const failed = [v4, v6].find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const error: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
  error.code = 'ENOTFOUND';
  throw error;
}

/**
 * A dns.lookup replacement for http.request that refuses forbidden addresses at connect time.
 * `resolver` should serve one attempt, so that cancelling it at the deadline ends only that
 * attempt's queries.
 */
export function guardedLookup(allowLoopback: boolean, resolver: HostResolver) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    const family =
      options.family === 4 || options.family === 'IPv4'
        ? 4
        : options.family === 6 || options.family === 'IPv6'
          ? 6
          : 0;
    resolveHost(resolver, hostname, family).then(
      (list) => {
        const bad = list.find((a) => !addressAllowed(a.address, allowLoopback));
        if (bad) {
          const error: NodeJS.ErrnoException = new Error(`callback address ${bad.address} is not allowed`);
          error.code = 'ESSRF';
          return callback(error, []);
        }
        if (options.all) return callback(null, list);
        return callback(null, list[0]!.address, list[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
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
  if (!allowLoopback && localhost.test(host)) return 'localhost is not allowed';
  return null;
}
