/**
 * Merchants and their credentials (issue #2 §2). Each merchant gets its own keys: an HMAC key for
 * Zhifu's scheme, an APIv3 key (32 characters, AES-256-GCM for certificates and callbacks), a
 * merchant API key pair with a self-signed certificate, a platform key pair with certificate
 * (platform-certificate mode) and a separate key pair for public-key mode (`PUB_KEY_ID_…`).
 * The merchant's private key is returned once in the credentials and never stored.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Ctx } from '../../context.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { alphanumeric, digits, hex } from '../../lib/ids.ts';
import { selfSignedCertificate } from '../../lib/x509.ts';
import * as identity from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import * as wallet from '../wallet/index.ts';
import * as repo from './merchants.repository.ts';

const generateKeyPairAsync = promisify(generateKeyPair);
const certificate_validity_ms = 5 * 365 * 24 * 3600 * 1000;

export interface MerchantCredentials {
  base_url: string;
  mchid: string;
  appid: string;
  hmac_key: string;
  apiv3_key: string;
  merchant_serial_no: string;
  merchant_private_key_pem: string;
  merchant_certificate_pem: string;
  platform_serial_no: string;
  platform_certificate_pem: string;
  platform_public_key_id: string;
  platform_public_key_pem: string;
  payers: { openid: string; name: string }[];
}

async function rsaKey(): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return privateKey;
}

/** 40 uppercase hex characters whose first digit is non-zero (reference §1.1). */
function serial(ctx: Ctx): string {
  const h = hex(ctx.ids, 40).toUpperCase();
  return `${'123456789ABCDEF'[Number.parseInt(h[0]!, 16) % 15]}${h.slice(1)}`;
}

const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

export async function createMerchant(
  ctx: Ctx,
  input: { name: string; mcc?: string },
): Promise<MerchantCredentials> {
  const [merchantKey, platformKey, pubkeyKey] = await Promise.all([rsaKey(), rsaKey(), rsaKey()]);
  await wallet.ensureSandboxPayers(ctx);
  const secret = await identity.openidSecret(ctx);
  for (let attempt = 0; ; attempt++) {
    const now = ctx.clock.now();
    const mchid = `19${digits(ctx.ids, 8)}`;
    const appid = `wx${hex(ctx.ids, 16)}`;
    const merchantSerial = serial(ctx);
    const platformSerial = serial(ctx);
    const cert = (key: KeyObject, serialHex: string, commonName: string) =>
      selfSignedCertificate({
        privateKey: key,
        serialHex,
        commonName,
        organization: 'Zhifu sandbox',
        notBeforeMs: now - 60_000,
        notAfterMs: now + certificate_validity_ms,
      });
    const creds: MerchantCredentials = {
      base_url: ctx.publicUrl,
      mchid,
      appid,
      hmac_key: hex(ctx.ids, 64),
      apiv3_key: alphanumeric(ctx.ids, 32),
      merchant_serial_no: merchantSerial,
      merchant_private_key_pem: pem(merchantKey),
      merchant_certificate_pem: cert(merchantKey, merchantSerial, `${mchid} merchant API certificate`),
      platform_serial_no: platformSerial,
      platform_certificate_pem: cert(platformKey, platformSerial, 'Zhifu platform certificate'),
      platform_public_key_id: `PUB_KEY_ID_01${mchid}${digits(ctx.ids, 16)}`,
      platform_public_key_pem: createPublicKey(pubkeyKey).export({ type: 'spki', format: 'pem' }).toString(),
      payers: [],
    };
    try {
      await ctx.db.transaction().execute(async (trx) => {
        const accountId = `acc_mch_${mchid}`;
        await ledger.openAccount(trx, { id: accountId, kind: 'merchant', ownerId: mchid, floor: 0, now });
        await repo.insertMerchant(trx, {
          mchid,
          name: input.name,
          hmac_key: creds.hmac_key,
          apiv3_key: creds.apiv3_key,
          merchant_serial_no: merchantSerial,
          merchant_certificate_pem: creds.merchant_certificate_pem,
          platform_serial_no: platformSerial,
          platform_private_key_pem: pem(platformKey),
          platform_certificate_pem: creds.platform_certificate_pem,
          platform_cert_not_before: now - 60_000,
          platform_cert_not_after: now + certificate_validity_ms,
          platform_public_key_id: creds.platform_public_key_id,
          platform_pubkey_private_pem: pem(pubkeyKey),
          platform_public_key_pem: creds.platform_public_key_pem,
          account_id: accountId,
          mcc: input.mcc ?? '5999',
          frozen_until: null,
          created_at: now,
        });
        await repo.insertApp(trx, { appid, mchid, app_secret: hex(ctx.ids, 32), created_at: now });
        for (const payer of wallet.sandboxPayers) {
          const openid = await identity.bindPayerToApp(trx, secret, appid, payer.user_id, now);
          creds.payers.push({ openid, name: payer.name });
        }
      });
      return creds;
    } catch (error) {
      // A random mchid/appid collided with an existing one: draw again (bounded).
      if (!isUniqueViolation(error) || attempt >= 3) throw error;
      creds.payers = [];
    }
  }
}

/** Verification and signing material of a merchant, parsed once (PEM parsing costs ~1 ms). */
export interface MerchantKeys {
  mchid: string;
  hmacKey: Buffer;
  apiv3Key: string;
  merchantSerialNo: string;
  merchantPublicKey: KeyObject;
  platformSerialNo: string;
  platformPrivateKey: KeyObject;
  platformCertificatePem: string;
  platformCertNotBefore: number;
  platformCertNotAfter: number;
  platformPublicKeyId: string;
  pubkeyPrivateKey: KeyObject;
}

/** Merchant keys never change after creation, so they are cached per process. */
export class MerchantKeyCache {
  private readonly cache = new Map<string, Promise<MerchantKeys | undefined>>();
  constructor(private readonly ctx: Ctx) {}

  get(mchid: string): Promise<MerchantKeys | undefined> {
    let hit = this.cache.get(mchid);
    if (!hit) {
      hit = this.load(mchid);
      this.cache.set(mchid, hit);
      // Unknown merchants are not cached: one may be created a moment later by the CLI.
      hit.then((k) => k ?? this.cache.delete(mchid));
    }
    return hit;
  }

  private async load(mchid: string): Promise<MerchantKeys | undefined> {
    const m = await repo.findMerchant(this.ctx.db, mchid);
    if (!m) return undefined;
    return {
      mchid,
      hmacKey: Buffer.from(m.hmac_key, 'utf8'),
      apiv3Key: m.apiv3_key,
      merchantSerialNo: m.merchant_serial_no,
      merchantPublicKey: createPublicKey(m.merchant_certificate_pem),
      platformSerialNo: m.platform_serial_no,
      platformPrivateKey: createPrivateKey(m.platform_private_key_pem),
      platformCertificatePem: m.platform_certificate_pem,
      platformCertNotBefore: m.platform_cert_not_before,
      platformCertNotAfter: m.platform_cert_not_after,
      platformPublicKeyId: m.platform_public_key_id,
      pubkeyPrivateKey: createPrivateKey(m.platform_pubkey_private_pem),
    };
  }
}

export const findMerchant = repo.findMerchant;
export const merchantProfile = repo.merchantProfile;
export const findApp = repo.findApp;
export const appsOf = repo.appsOf;
export const firstMerchant = repo.firstMerchant;
