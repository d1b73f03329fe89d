/**
 * Minimal self-signed X.509 v3 certificates for RSA keys (RFC 5280), DER-encoded by hand.
 *
 * Why our own: Node can parse certificates (crypto.X509Certificate) but not create them, and Zhifu
 * only ever needs one shape — a self-signed RSA-2048 / SHA-256 certificate with a chosen serial, as
 * WeChat Pay's merchant and platform certificates. The libraries that can do it pull in a dozen
 * packages (@peculiar/x509) or a pure-JS RSA stack (node-forge); this is 80 lines over node:crypto.
 * Every certificate made here is parsed back with crypto.X509Certificate and its signature checked.
 */
import { createPublicKey, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { assert } from './assert.ts';

function der(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else if (len < 0x100) header = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) header = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else throw new Error('DER content too long');
  return Buffer.concat([header, content]);
}

const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));
const nullDer = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const nums = dotted.split('.').map(Number);
  const bytes = [40 * nums[0]! + nums[1]!];
  for (const n of nums.slice(2)) {
    const stack = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) stack.unshift((v & 0x7f) | 0x80);
    bytes.push(...stack);
  }
  return der(0x06, Buffer.from(bytes));
}

function integerFromHex(hex: string): Buffer {
  let buf = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (buf[0]! & 0x80) buf = Buffer.concat([Buffer.from([0]), buf]);
  return der(0x02, buf);
}

function utf8String(text: string): Buffer {
  return der(0x0c, Buffer.from(text, 'utf8'));
}

function name(commonName: string, organization: string): Buffer {
  return seq(
    set(seq(oid('2.5.4.6'), der(0x13, Buffer.from('CN')))),
    set(seq(oid('2.5.4.10'), utf8String(organization))),
    set(seq(oid('2.5.4.3'), utf8String(commonName))),
  );
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString();
  const year = Number(iso.slice(0, 4));
  const digits = iso.slice(2, 19).replace(/[-T:]/g, '');
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050
    ? der(0x17, Buffer.from(`${digits}Z`))
    : der(0x18, Buffer.from(`${iso.slice(0, 2)}${digits}Z`));
}

export interface SelfSignedOptions {
  privateKey: KeyObject;
  /** Uppercase hex; the first digit must be non-zero so SDKs that drop leading zeros agree on it. */
  serialHex: string;
  commonName: string;
  organization: string;
  notBeforeMs: number;
  notAfterMs: number;
}

export function selfSignedCertificate(o: SelfSignedOptions): string {
  assert(/^[1-9A-F][0-9A-F]*$/.test(o.serialHex), 'serial must be uppercase hex with a non-zero first digit');
  const spki = createPublicKey(o.privateKey).export({ type: 'spki', format: 'der' });
  const sha256WithRsa = seq(oid('1.2.840.113549.1.1.11'), nullDer);
  const subject = name(o.commonName, o.organization);
  // keyUsage (critical): digitalSignature | keyEncipherment — Java's verifier honours keyUsage.
  const keyUsage = seq(
    oid('2.5.29.15'),
    der(0x01, Buffer.from([0xff])),
    der(0x04, der(0x03, Buffer.from([0x05, 0xa0]))),
  );
  const basicConstraints = seq(oid('2.5.29.19'), der(0x04, seq()));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    integerFromHex(o.serialHex),
    sha256WithRsa,
    subject,
    seq(time(o.notBeforeMs), time(o.notAfterMs)),
    subject,
    spki,
    der(0xa3, seq(keyUsage, basicConstraints)),
  );
  const signature = sign('sha256', tbs, o.privateKey);
  const certificate = seq(tbs, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const pem = `-----BEGIN CERTIFICATE-----\n${certificate
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
  const parsed = new X509Certificate(pem);
  assert(parsed.verify(parsed.publicKey), 'self-signed certificate does not verify');
  assert(parsed.serialNumber.toUpperCase() === o.serialHex, 'certificate serial mismatch');
  return pem;
}
