/**
 * The merchant's `notify_url` for benches: an HTTP server in the bench process that acknowledges
 * every APIv3 callback (204), as a merchant backend does. Without it every payment's callback
 * fails and is retried on the 15-retry schedule while the bench runs, which is load no real
 * deployment carries. The servers get ZHIFU_CALLBACK_ALLOW_LOOPBACK=true to reach it.
 */
import { createServer } from 'node:http';

export interface CallbackReceiver {
  url: string;
  /** Callbacks received so far. */
  received(): number;
  close(): Promise<void>;
}

export async function callbackReceiver(): Promise<CallbackReceiver> {
  let count = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.statusCode = 204;
      res.end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/notify`,
    received: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
