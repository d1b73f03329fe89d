/**
 * APIv3 RSA signatures (PKCS#1 v1.5, SHA-256, base64) made off the event loop.
 *
 * `crypto.sign` with a callback runs in libuv's thread pool: an RSA-2048 signature costs ~0.28 ms of
 * CPU, which the synchronous form spends on the event-loop thread, i.e. on every other request's
 * time; the callback form spends ~20 µs there and the rest on another core. Every 2xx response of
 * an RSA-authenticated request and every APIv3 callback is signed, so this is most of the RSA
 * scheme's server CPU (docs/benchmarks.md, bench:payments). The pool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise) also runs the SQLite WAL's fdatasync (db/group-commit.ts), which
 * can queue behind signatures; in bench:payments' RSA runs the payment p50/p99 did not move.
 */
import { type KeyObject, sign } from 'node:crypto';

export function rsaSign(message: string, key: KeyObject): Promise<string> {
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(message), key, (error, signature) => {
      if (error) reject(error);
      else resolve(signature.toString('base64'));
    });
  });
}
