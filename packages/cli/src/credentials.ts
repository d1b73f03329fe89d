/**
 * Merchant credentials files (`data/demo-credentials.json`, `zhifu merchant create --json`), read
 * by the commands that talk to a server as a merchant (`zhifu listen`, `zhifu simulate --drive`,
 * `zhifu llm-key`), and where those commands find the server.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

type Env = Record<string, string | undefined>;

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

/** `<ZHIFU_DATA_DIR or ./data>/demo-credentials.json`, written by the server on first start. */
export function demoCredentialsFile(env: Env = process.env): string {
  return resolve(env.ZHIFU_DATA_DIR || './data', 'demo-credentials.json');
}

/**
 * The server a command talks to when `--base-url` is not given: ZHIFU_BASE_URL, else the base_url
 * of the credentials in use (by default the demo merchant's), else the server's default address.
 */
export function baseUrlOf(env: Env, credentialsBaseUrl?: string): string {
  return env.ZHIFU_BASE_URL || credentialsBaseUrl || `http://127.0.0.1:${env.PORT || '8080'}`;
}

/** baseUrlOf with the demo credentials' base_url, when that file is there and readable. */
export function defaultBaseUrl(env: Env): string {
  let fromFile: string | undefined;
  try {
    const parsed: unknown = JSON.parse(readFileSync(demoCredentialsFile(env), 'utf8'));
    const baseUrl = typeof parsed === 'object' && parsed !== null && 'base_url' in parsed && parsed.base_url;
    if (typeof baseUrl === 'string' && baseUrl !== '') fromFile = baseUrl;
  } catch {
    // No (readable) demo credentials: the default address.
  }
  return baseUrlOf(env, fromFile);
}
