/**
 * Merchant credentials files (`data/demo-credentials.json`, `zhifu merchant create --json`), read
 * by the commands that talk to a server as a merchant (`zhifu listen`, `zhifu simulate --drive`).
 */
import { readFileSync } from 'node:fs';

export interface Credentials {
  mchid: string;
  appid: string | undefined;
  hmac_key: string;
  base_url: string | undefined;
}

/** Reads a credentials file; `needAppid` makes a missing appid an error too. */
export function readCredentials(file: string, needAppid: true): Credentials & { appid: string };
export function readCredentials(file: string, needAppid?: boolean): Credentials;
export function readCredentials(file: string, needAppid = false): Credentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot read merchant credentials from ${file} (${reason}). Start the server once ('zhifu serve' ` +
        "writes demo-credentials.json) or pass --credentials <file> from 'zhifu merchant create --json'.",
    );
  }
  const field = (name: string): string | undefined => {
    const v =
      typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[name] : undefined;
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const mchid = field('mchid');
  const appid = field('appid');
  const hmacKey = field('hmac_key');
  if (mchid === undefined || hmacKey === undefined || (needAppid && appid === undefined)) {
    const needed = needAppid ? 'mchid, appid and hmac_key' : 'mchid and hmac_key';
    throw new Error(`${file} is not merchant credentials: it needs ${needed}`);
  }
  return { mchid, appid, hmac_key: hmacKey, base_url: field('base_url') };
}
