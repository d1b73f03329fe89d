/**
 * The SDK's own RFC 6455 client (src/ws.ts) against the `ws` package's server, and against raw
 * sockets for what `ws` will not send (split headers, bad handshakes, invalid UTF-8).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsServerSocket } from 'ws';
import { WsConnection, WsHandshakeError } from '../src/ws.ts';

type Behaviour = (socket: WsServerSocket, req: IncomingMessage) => void;

let server: Server;
let wss: WebSocketServer;
let base: string;
const behaviours = new Map<string, Behaviour>();

beforeAll(async () => {
  server = createServer();
  wss = new WebSocketServer({
    server,
    maxPayload: 64 * 1024 * 1024,
    verifyClient: (info, done) => {
      if (info.req.url === '/refuse')
        done(false, 401, 'Unauthorized', { 'Content-Type': 'application/json' });
      else done(true);
    },
  });
  wss.on('connection', (socket, req) => behaviours.get(req.url ?? '')?.(socket, req));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
});

function messages(ws: WsConnection, count: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    ws.on('message', (text) => {
      got.push(text);
      if (got.length === count) resolve(got);
    });
  });
}

const closed = (ws: WsConnection) =>
  new Promise<{ code: number; reason: string }>((r) =>
    ws.once('close', (code, reason) => r({ code, reason })),
  );

describe('WsConnection against a ws server', () => {
  it('handshakes, sends masked text (ws refuses unmasked client frames) and gets it echoed', async () => {
    behaviours.set('/echo', (s, req) => {
      s.send(JSON.stringify({ authorization: req.headers.authorization }));
      s.on('message', (data, isBinary) => s.send(data, { binary: isBinary }));
    });
    const ws = await WsConnection.connect(`${base}/echo`, {
      headers: { Authorization: 'ZHIFU-HMAC-SHA256 x' },
    });
    const got = messages(ws, 4);
    ws.send('hello 你好');
    ws.send('x'.repeat(200)); // 16-bit length
    ws.send('y'.repeat(70_000)); // 64-bit length
    expect(await got).toEqual([
      JSON.stringify({ authorization: 'ZHIFU-HMAC-SHA256 x' }),
      'hello 你好',
      'x'.repeat(200),
      'y'.repeat(70_000),
    ]);
    const binary = new Promise<Buffer>((r) => ws.once('binary', r));
    ws.sendBinary(Buffer.from([0, 1, 2, 255]));
    expect([...(await binary)]).toEqual([0, 1, 2, 255]);
    const done = closed(ws);
    ws.close(1000, 'bye');
    expect(await done).toEqual({ code: 1000, reason: 'bye' }); // ws echoes the reason
    expect(ws.readyState).toBe('closed');
  });

  it('reassembles a fragmented message with a ping between the fragments, and answers the ping', async () => {
    const pong = new Promise<Buffer>((resolve) => {
      behaviours.set('/fragments', (s) => {
        s.on('pong', resolve);
        s.send('frag-1|', { fin: false });
        s.ping(Buffer.from('are you there'));
        s.send('frag-2|', { fin: false });
        s.send('frag-3', { fin: true });
        s.send('after');
      });
    });
    const ws = await WsConnection.connect(`${base}/fragments`);
    const pinged = new Promise<Buffer>((r) => ws.once('ping', r));
    expect(await messages(ws, 2)).toEqual(['frag-1|frag-2|frag-3', 'after']);
    expect((await pinged).toString()).toBe('are you there');
    expect((await pong).toString()).toBe('are you there');
    ws.close();
    await closed(ws);
  });

  it('receives large frames (> 64 KiB, several MiB) and a large fragmented message', async () => {
    const big = 'z'.repeat(3 * 1024 * 1024 + 7);
    const parts = Array.from({ length: 5 }, (_, i) => String(i).repeat(100_000));
    behaviours.set('/large', (s) => {
      s.send('a'.repeat(65_536));
      s.send(big);
      parts.forEach((p, i) => {
        s.send(p, { fin: i === parts.length - 1 });
      });
    });
    const ws = await WsConnection.connect(`${base}/large`);
    const [first, second, third] = await messages(ws, 3);
    expect(first).toBe('a'.repeat(65_536));
    expect(second?.length).toBe(big.length);
    expect(second === big).toBe(true);
    expect(third === parts.join('')).toBe(true);
    ws.close();
    await closed(ws);
  });

  it('reports the server close code and reason (4008 resync)', async () => {
    behaviours.set('/resync', (s) => s.close(4008, 'resync: reconnect with after_seq=12'));
    const ws = await WsConnection.connect(`${base}/resync`);
    expect(await closed(ws)).toEqual({ code: 4008, reason: 'resync: reconnect with after_seq=12' });
  });

  it('sends its close code and reason to the server', async () => {
    const seen = new Promise<[number, string]>((resolve) => {
      behaviours.set('/client-close', (s) =>
        s.on('close', (code, reason) => resolve([code, reason.toString()])),
      );
    });
    const ws = await WsConnection.connect(`${base}/client-close`);
    ws.close(4000, 'done here');
    expect(await seen).toEqual([4000, 'done here']);
    expect((await closed(ws)).code).toBe(4000);
  });

  it('terminate() drops the connection: close 1006', async () => {
    behaviours.set('/terminate', () => {});
    const ws = await WsConnection.connect(`${base}/terminate`);
    const done = closed(ws);
    ws.terminate();
    expect((await done).code).toBe(1006);
  });

  it('closes with 1009 when a message exceeds maxMessageBytes', async () => {
    const seen = new Promise<number>((resolve) => {
      behaviours.set('/too-big', (s) => {
        s.on('close', (code) => resolve(code));
        s.send('q'.repeat(2000));
      });
    });
    const ws = await WsConnection.connect(`${base}/too-big`, { maxMessageBytes: 1000 });
    let got = false;
    ws.on('message', () => {
      got = true;
    });
    expect((await closed(ws)).code).toBe(1009);
    expect(await seen).toBe(1009);
    expect(got).toBe(false);
  });

  it('a refused handshake rejects with the status and body', async () => {
    const error = await WsConnection.connect(`${base}/refuse`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WsHandshakeError);
    expect((error as WsHandshakeError).status).toBe(401);
  });

  it('an unreachable server rejects with the network error', async () => {
    await expect(WsConnection.connect('ws://127.0.0.1:1/x')).rejects.toThrow(/ECONNREFUSED/);
  });
});

/** A raw server: answers the upgrade with `handshake(key)` then runs `after(socket)`. */
async function rawServer(
  handshake: (key: string) => string | Buffer,
  after: (socket: Socket) => void | Promise<void>,
): Promise<{ url: string; close: () => Promise<void>; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const s = createServer();
  s.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(handshake(String(req.headers['sec-websocket-key'])));
    void after(socket);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const address = s.address();
  return {
    url: `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/raw`,
    close: () => {
      // Upgraded sockets are no longer the HTTP server's to close.
      for (const socket of sockets) socket.destroy();
      return new Promise((r) => s.close(() => r()));
    },
    received: () => Buffer.concat(chunks),
  };
}

const accept = (key: string) =>
  createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const goodHandshake = (key: string) =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\n\r\n`;
const textFrame = (text: string | Buffer, fin = true, opcode = 1) => {
  const payload = typeof text === 'string' ? Buffer.from(text) : text;
  const header =
    payload.length < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length])
      : Buffer.from([(fin ? 0x80 : 0) | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
};

describe('WsConnection against raw sockets', () => {
  it('refuses a wrong Sec-WebSocket-Accept', async () => {
    const raw = await rawServer(
      () =>
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n',
      () => {},
    );
    await expect(WsConnection.connect(raw.url)).rejects.toThrow(/Sec-WebSocket-Accept/);
    await raw.close();
  });

  it('parses frames that arrive with the 101 (head) and split at every byte', async () => {
    const frames = Buffer.concat([
      textFrame('in the head'),
      textFrame('split-', false),
      textFrame('across', true, 0),
      textFrame('k'.repeat(300)),
    ]);
    const raw = await rawServer(
      (key) =>
        Buffer.concat([
          Buffer.from(goodHandshake(key)),
          frames.subarray(0, textFrame('in the head').length + 1),
        ]),
      async (socket) => {
        const rest = frames.subarray(textFrame('in the head').length + 1);
        for (const byte of rest) {
          socket.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
      },
    );
    const ws = await WsConnection.connect(raw.url);
    expect(await messages(ws, 3)).toEqual(['in the head', 'split-across', 'k'.repeat(300)]);
    ws.terminate();
    await raw.close();
  });

  it('fails the connection with 1007 on a text message that is not UTF-8, and 1002 on a masked frame', async () => {
    for (const [bad, code] of [
      [textFrame(Buffer.from([0xc3, 0x28])), 1007],
      [Buffer.from([0x81, 0x81, 1, 2, 3, 4, 5]), 1002],
    ] as const) {
      const raw = await rawServer(goodHandshake, (socket) => {
        socket.write(bad);
      });
      const ws = await WsConnection.connect(raw.url);
      ws.on('error', () => {});
      const done = closed(ws);
      await new Promise((r) => setTimeout(r, 50));
      // The client's close frame: FIN+close opcode, masked, with the status code.
      const sent = raw.received();
      expect(sent[0]).toBe(0x88);
      const mask = sent.subarray(2, 6);
      expect(((sent[6]! ^ mask[0]!) << 8) | (sent[7]! ^ mask[1]!)).toBe(code);
      await raw.close();
      expect((await done).code).toBe(code);
    }
  });
});
