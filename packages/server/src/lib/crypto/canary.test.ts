/**
 * Canary: a random marker sealed with `sealRecord` and written to a real SQLite database (WAL mode,
 * as Zhifu runs it) must not appear in the database file or its -wal file, neither while the
 * connection is open (data still in the WAL) nor after it closes (checkpointed into the main file).
 * The same marker written unencrypted must appear (control), which shows the search would find it.
 * The same for logs: what the server's logger (Fastify's pino) writes when it logs a sealed row, a
 * failed open, and a pseudonymised identifier.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import SQLite from 'better-sqlite3';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { openRecord, openRecordText, sealRecord } from './envelope.ts';
import { pseudonymize } from './pseudonym.ts';

const dir = mkdtempSync(join(tmpdir(), 'zhifu-canary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kek = randomBytes(16);
const keyring = new Map([['k1', kek]]);
const canary = `CANARY-${randomBytes(12).toString('hex')}`;
const openid = `oCanary${randomBytes(9).toString('base64url')}`;
const pseudonymKey = randomBytes(32);

/** All bytes SQLite has on disk for this database: the main file plus -wal (and -journal if any). */
function databaseBytes(path: string): Buffer {
  const files = [path, `${path}-wal`, `${path}-journal`].filter((file) => existsSync(file));
  return Buffer.concat(files.map((file) => readFileSync(file)));
}

function contains(haystack: Buffer, needle: string): boolean {
  return haystack.includes(Buffer.from(needle, 'utf8')) || haystack.includes(Buffer.from(needle, 'utf16le'));
}

function writeMessages(path: string, content: (id: string, text: string) => string) {
  const db = new SQLite(path);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE chat_messages (id TEXT PRIMARY KEY, payer_openid TEXT NOT NULL, content TEXT NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO chat_messages (id, payer_openid, content) VALUES (?, ?, ?)');
  for (let i = 0; i < 50; i++) {
    const id = `msg_${i}`;
    const text =
      i === 17 ? `my card is 6222 0000 ${canary}` : `filler message ${i} ${randomBytes(8).toString('hex')}`;
    insert.run(
      id,
      content(`chat_messages:payer_openid:${id}`, openid),
      content(`chat_messages:content:${id}`, text),
    );
  }
  return db;
}

describe('canary: plaintext never reaches the database file', () => {
  it('finds no sealed canary in the SQLite file or WAL, open or checkpointed', () => {
    const path = join(dir, 'sealed.db');
    const db = writeMessages(path, (context, text) => sealRecord(kek, 'k1', text, context));
    expect(existsSync(`${path}-wal`)).toBe(true);
    const whileOpen = databaseBytes(path);
    expect(whileOpen.length).toBeGreaterThan(0);
    expect(contains(whileOpen, canary)).toBe(false);
    expect(contains(whileOpen, openid)).toBe(false);
    expect(contains(whileOpen, kek.toString('hex'))).toBe(false);
    expect(whileOpen.includes(kek)).toBe(false);

    // The row reads back through the envelope.
    const row = db.prepare('SELECT content FROM chat_messages WHERE id = ?').get('msg_17') as {
      content: string;
    };
    expect(openRecordText(keyring, row.content, 'chat_messages:content:msg_17')).toContain(canary);
    db.close();

    const afterClose = databaseBytes(path);
    expect(contains(afterClose, canary)).toBe(false);
    expect(contains(afterClose, openid)).toBe(false);
  });

  it('control: the same canary stored unencrypted is found, open and checkpointed', () => {
    const path = join(dir, 'plain.db');
    const db = writeMessages(path, (_context, text) => text);
    expect(contains(databaseBytes(path), canary)).toBe(true);
    expect(contains(databaseBytes(path), openid)).toBe(true);
    db.close();
    expect(contains(databaseBytes(path), canary)).toBe(true);
  });
});

describe('canary: plaintext never reaches the logs', () => {
  async function captureLogs(
    write: (log: { info(obj: object, msg: string): void }) => void,
  ): Promise<string> {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const app = Fastify({ logger: { level: 'info', stream } });
    write(app.log);
    await app.close();
    return chunks.join('');
  }

  it('logs sealed rows, failed opens and pseudonyms without the canary or the raw openid', async () => {
    const context = 'chat_messages:content:msg_1';
    const sealed = sealRecord(kek, 'k1', `secret ${canary}`, context);
    const logged = await captureLogs((log) => {
      log.info({ row: { id: 'msg_1', content: sealed } }, 'stored chat message');
      try {
        openRecord(keyring, sealed, 'chat_messages:content:msg_2');
      } catch (error) {
        log.info(
          { err: error, payer: pseudonymize(pseudonymKey, 'openid', openid) },
          'could not open message',
        );
      }
    });
    expect(logged).toContain('stored chat message');
    expect(logged).toContain('authentication_failed');
    expect(logged).toContain('psn_');
    expect(logged).not.toContain(canary);
    expect(logged).not.toContain(openid);
  });

  it('control: logging the plaintext would be caught', async () => {
    const logged = await captureLogs((log) => log.info({ content: `secret ${canary}`, openid }, 'oops'));
    expect(logged).toContain(canary);
    expect(logged).toContain(openid);
  });
});
