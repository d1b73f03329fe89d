/**
 * A real HTTP receiver for APIv3 callbacks in tests: answers each request with `status()` (an
 * APIv3 error body when it is not 2xx) and keeps every request's headers and body.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export async function callbackReceiver(status: () => number = () => 204) {
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const code = status();
      res.statusCode = code;
      res.end(code < 300 ? '' : '{"code":"FAIL","message":"失败"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/notify`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}
