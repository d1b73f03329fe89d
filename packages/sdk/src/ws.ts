/**
 * A small RFC 6455 WebSocket client over node:http / node:https upgrade and node:crypto.
 *
 * Why it exists: @zhifu/sdk has zero runtime dependencies, and Node 20 has no global WebSocket
 * client (it arrives unflagged in Node 22). The usual choice would be the `ws` package; this file
 * is the part of it the notification channel needs, and nothing more:
 *
 * - the opening handshake with `Sec-WebSocket-Key` and a checked `Sec-WebSocket-Accept`, extra
 *   request headers (the signed `Authorization`), and the status, headers and body of a refusal;
 * - client-to-server masking with a fresh random key per frame (§5.3);
 * - text and binary messages, fragmented messages (continuation frames, with control frames
 *   interleaved), 7-, 16- and 64-bit payload lengths, up to `maxMessageBytes` (default 16 MiB);
 * - ping (answered with pong), pong, and the closing handshake with status code and reason;
 * - protocol errors close the connection with 1002 (protocol), 1007 (bad UTF-8) or 1009 (too big).
 *
 * Not supported (never negotiated, so a server cannot use them): extensions such as
 * permessage-deflate, and subprotocols.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/** §1.3: the GUID appended to the key before hashing into `Sec-WebSocket-Accept`. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long to wait for the server's close frame (and TCP close) after sending ours. */
const CLOSE_TIMEOUT_MS = 2_000;
/** A refusal body is read for the error message; more than this is cut off. */
const REFUSAL_BODY_MAX = 64 * 1024;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export const wsCloseCodes = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** Not sent on the wire: the close frame carried no status code. */
  noStatus: 1005,
  /** Not sent on the wire: the connection dropped without a close frame. */
  abnormal: 1006,
  invalidData: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
} as const;

export interface WsConnectOptions {
  /** Extra request headers, e.g. a signed `Authorization`. */
  headers?: Record<string, string>;
  /** Whole handshake deadline (default 10000 ms). */
  handshakeTimeoutMs?: number;
  /** Largest message (after reassembly of fragments) accepted; bigger closes with 1009 (default 16 MiB). */
  maxMessageBytes?: number;
}

/** The server answered the upgrade with something other than a valid `101 Switching Protocols`. */
export class WsHandshakeError extends Error {
  override name = 'WsHandshakeError';
  constructor(
    message: string,
    /** HTTP status of the refusal, or undefined when the failure was not an HTTP answer. */
    readonly status: number | undefined,
    readonly headers: IncomingMessage['headers'],
    /** The refusal's body (UTF-8, at most 64 KiB). */
    readonly body: string,
  ) {
    super(message);
  }
}

export type WsReadyState = 'open' | 'closing' | 'closed';

export interface WsEvents {
  /** A complete text message (fragments reassembled). */
  message: [text: string];
  /** A complete binary message. */
  binary: [data: Buffer];
  ping: [data: Buffer];
  pong: [data: Buffer];
  /** Once, when the TCP connection is gone. 1006 if it dropped without a close frame. */
  close: [code: number, reason: string];
  error: [error: Error];
}

/**
 * An open WebSocket connection (client side). Create it with `WsConnection.connect()`.
 *
 * @example
 * const ws = await WsConnection.connect('ws://127.0.0.1:8080/echo', { headers: { authorization } });
 * ws.on('message', (text) => console.log(text));
 * ws.send('hello');
 * ws.close(1000, 'bye');
 */
export class WsConnection extends EventEmitter<WsEvents> {
  #socket: Socket;
  #state: WsReadyState = 'open';
  readonly #maxMessageBytes: number;
  /** Unparsed bytes: a list of chunks, joined only when a whole header or payload is there. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Fragments of the message being received, and its opcode (text or binary). */
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = -1;
  #closeSent = false;
  #closeReceived: { code: number; reason: string } | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  /** A protocol error failed the connection: whatever else arrives is ignored. */
  #failed = false;
  #closed = false;

  private constructor(socket: Socket, head: Buffer, maxMessageBytes: number) {
    super();
    this.#socket = socket;
    this.#maxMessageBytes = maxMessageBytes;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    socket.on('close', () => this.#finish());
    socket.on('end', () => socket.end());
    // Bytes that came with the 101 and any already buffered are delivered after the caller of
    // connect() has had its turn to add listeners.
    socket.pause();
    setImmediate(() => {
      if (head.length > 0) this.#receive(head);
      socket.resume();
    });
  }

  /**
   * Opens a connection to a `ws:`, `wss:`, `http:` or `https:` URL. Rejects with `WsHandshakeError`
   * when the server refuses (its status and body are on the error) or answers an invalid
   * handshake, and with the network error when it cannot be reached.
   */
  static connect(url: string | URL, options: WsConnectOptions = {}): Promise<WsConnection> {
    const target = new URL(url);
    const secure = target.protocol === 'wss:' || target.protocol === 'https:';
    if (!secure && target.protocol !== 'ws:' && target.protocol !== 'http:') {
      return Promise.reject(
        new TypeError(`WebSocket URL must be ws(s): or http(s):, got "${target.protocol}"`),
      );
    }
    target.protocol = secure ? 'https:' : 'http:';
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1').update(`${key}${HANDSHAKE_GUID}`).digest('base64');
    const send = secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(error);
      };
      const req: ClientRequest = send(target, {
        method: 'GET',
        agent: false,
        headers: {
          ...options.headers,
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': key,
        },
      });
      const timer = setTimeout(
        () =>
          fail(
            new WsHandshakeError(`WebSocket handshake timed out after ${timeoutMs} ms`, undefined, {}, ''),
          ),
        timeoutMs,
      );
      req.on('error', fail);
      req.on('response', (res) => {
        // Anything but 101 is a refusal: keep its body for the error (e.g. a signed-API error JSON).
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < REFUSAL_BODY_MAX) parts.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          const body = Buffer.concat(parts).subarray(0, REFUSAL_BODY_MAX).toString('utf8');
          fail(
            new WsHandshakeError(
              `WebSocket handshake refused: HTTP ${res.statusCode}`,
              res.statusCode,
              res.headers,
              body,
            ),
          );
        });
        res.on('error', fail);
      });
      req.on('upgrade', (res, socket, head) => {
        const problem =
          res.statusCode !== 101
            ? `status ${res.statusCode}`
            : String(res.headers.upgrade).toLowerCase() !== 'websocket'
              ? `Upgrade header "${res.headers.upgrade}"`
              : res.headers['sec-websocket-accept'] !== expectedAccept
                ? 'Sec-WebSocket-Accept does not match the key'
                : res.headers['sec-websocket-extensions']
                  ? 'the server chose an extension that was not offered'
                  : undefined;
        if (problem) {
          socket.destroy();
          fail(
            new WsHandshakeError(`invalid WebSocket handshake: ${problem}`, res.statusCode, res.headers, ''),
          );
          return;
        }
        if (settled) {
          socket.destroy();
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(new WsConnection(socket as Socket, head, maxMessageBytes));
      });
      req.end();
    });
  }

  get readyState(): WsReadyState {
    return this.#state;
  }

  /** Sends a text message as one frame. Ignored unless the connection is open. */
  send(text: string): void {
    this.#sendFrame(OP_TEXT, Buffer.from(text, 'utf8'));
  }

  sendBinary(data: Buffer): void {
    this.#sendFrame(OP_BINARY, data);
  }

  ping(data: Buffer = Buffer.alloc(0)): void {
    this.#sendFrame(OP_PING, data.subarray(0, 125));
  }

  /**
   * Starts the closing handshake: sends a close frame and waits (up to 2 s) for the server's
   * close frame and the end of the TCP connection; 'close' is emitted then.
   */
  close(code: number = wsCloseCodes.normal, reason = ''): void {
    if (this.#state !== 'open') return;
    this.#sendClose(code, reason);
    this.#state = 'closing';
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref();
  }

  /** Drops the TCP connection at once, without a closing handshake ('close' gets 1006). */
  terminate(): void {
    this.#socket.destroy();
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    const reasonBytes = Buffer.from(reason, 'utf8').subarray(0, 123);
    const payload = Buffer.alloc(2 + reasonBytes.length);
    payload.writeUInt16BE(code, 0);
    reasonBytes.copy(payload, 2);
    this.#writeFrame(OP_CLOSE, payload);
    this.#closeSent = true;
  }

  #sendFrame(opcode: number, payload: Buffer): void {
    if (this.#state !== 'open') return;
    this.#writeFrame(opcode, payload);
  }

  /** §5.2 / §5.3: one final frame, masked with a fresh random key (clients must mask). */
  #writeFrame(opcode: number, payload: Buffer): void {
    if (this.#socket.destroyed) return;
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const header = Buffer.alloc(2 + lengthBytes + 4);
    header[0] = 0x80 | opcode;
    if (lengthBytes === 0) {
      header[1] = 0x80 | length;
    } else if (lengthBytes === 2) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = randomBytes(4);
    mask.copy(header, 2 + lengthBytes);
    const masked = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    this.#socket.write(Buffer.concat([header, masked]));
  }

  #receive(chunk: Buffer): void {
    if (this.#failed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    try {
      while (this.#parseFrame()) {
        // one frame per iteration
      }
    } catch (error) {
      if (error instanceof ProtocolError) this.#fail(error.code, error.message);
      else throw error;
    }
  }

  /** Removes and returns the first `n` buffered bytes (joining chunks only when needed). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[0]!;
      const part = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, part);
      filled += part;
      if (part === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(part);
    }
    return out;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    return first.length >= n ? first.subarray(0, n) : Buffer.concat(this.#chunks, n);
  }

  /** Parses one whole frame if it is buffered; returns whether it did. */
  #parseFrame(): boolean {
    if (this.#failed || this.#buffered < 2) return false;
    const start = this.#peek(2);
    const b0 = start[0]!;
    const b1 = start[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0)
      throw new ProtocolError(wsCloseCodes.protocolError, 'RSV bits set without an extension');
    if ((b1 & 0x80) !== 0)
      throw new ProtocolError(wsCloseCodes.protocolError, 'server frames must not be masked');
    let length = b1 & 0x7f;
    let headerBytes = 2;
    if (length === 126) headerBytes = 4;
    else if (length === 127) headerBytes = 10;
    if (this.#buffered < headerBytes) return false;
    if (headerBytes > 2) {
      const header = this.#peek(headerBytes);
      if (headerBytes === 4) {
        length = header.readUInt16BE(2);
      } else {
        const big = header.readBigUInt64BE(2);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new ProtocolError(wsCloseCodes.messageTooBig, 'frame length out of range');
        }
        length = Number(big);
      }
    }
    const control = (opcode & 0x08) !== 0;
    if (control) {
      if (!fin) throw new ProtocolError(wsCloseCodes.protocolError, 'fragmented control frame');
      if (length > 125) throw new ProtocolError(wsCloseCodes.protocolError, 'control frame over 125 bytes');
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) {
        throw new ProtocolError(wsCloseCodes.protocolError, `reserved opcode ${opcode}`);
      }
    } else {
      if (opcode !== OP_CONTINUATION && opcode !== OP_TEXT && opcode !== OP_BINARY) {
        throw new ProtocolError(wsCloseCodes.protocolError, `reserved opcode ${opcode}`);
      }
      // Checked before the payload is buffered, so a huge announced length fails fast.
      if (this.#fragmentBytes + length > this.#maxMessageBytes) {
        throw new ProtocolError(wsCloseCodes.messageTooBig, `message over ${this.#maxMessageBytes} bytes`);
      }
    }
    if (this.#buffered < headerBytes + length) return false;
    this.#take(headerBytes);
    const payload = length === 0 ? Buffer.alloc(0) : this.#take(length);
    if (control) this.#control(opcode, payload);
    else this.#data(opcode, fin, payload);
    return true;
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) {
      this.#sendFrame(OP_PONG, payload);
      this.emit('ping', payload);
    } else if (opcode === OP_PONG) {
      this.emit('pong', payload);
    } else {
      if (payload.length === 1)
        throw new ProtocolError(wsCloseCodes.protocolError, 'close payload of 1 byte');
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : wsCloseCodes.noStatus;
      const reason = payload.length > 2 ? decodeUtf8(payload.subarray(2)) : '';
      if (reason === undefined)
        throw new ProtocolError(wsCloseCodes.invalidData, 'close reason is not UTF-8');
      if (payload.length >= 2 && !validCloseCode(code)) {
        throw new ProtocolError(wsCloseCodes.protocolError, `invalid close code ${code}`);
      }
      this.#closeReceived = { code, reason };
      // §5.5.1: echo the close (with its code) unless ours went first, then end the TCP side.
      this.#sendClose(code === wsCloseCodes.noStatus ? wsCloseCodes.normal : code, '');
      this.#state = 'closing';
      this.#socket.end();
      this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
      this.#closeTimer.unref();
    }
  }

  #data(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode === OP_CONTINUATION) {
      if (this.#fragmentOpcode < 0)
        throw new ProtocolError(wsCloseCodes.protocolError, 'continuation without a start');
    } else if (this.#fragmentOpcode >= 0) {
      throw new ProtocolError(wsCloseCodes.protocolError, 'new message before the last one finished');
    } else {
      this.#fragmentOpcode = opcode;
    }
    if (payload.length > 0) this.#fragments.push(payload);
    this.#fragmentBytes += payload.length;
    if (!fin) return;
    const whole =
      this.#fragments.length === 1
        ? this.#fragments[0]!
        : Buffer.concat(this.#fragments, this.#fragmentBytes);
    const kind = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    if (this.#state !== 'open') return;
    if (kind === OP_TEXT) {
      const text = decodeUtf8(whole);
      if (text === undefined) throw new ProtocolError(wsCloseCodes.invalidData, 'text message is not UTF-8');
      this.emit('message', text);
    } else {
      this.emit('binary', whole);
    }
  }

  /** Fails the connection (§7.1.7): a close frame with the code if possible, then the TCP close. */
  #fail(code: number, message: string): void {
    this.#failed = true;
    if (this.listenerCount('error') > 0)
      this.emit('error', new Error(`WebSocket protocol error: ${message}`));
    this.#sendClose(code, message);
    this.#state = 'closing';
    this.#closeReceived ??= { code, reason: message };
    this.#chunks = [];
    this.#buffered = 0;
    this.#socket.end();
    this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = 'closed';
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    const { code, reason } = this.#closeReceived ?? { code: wsCloseCodes.abnormal, reason: '' };
    this.emit('close', code, reason);
  }
}

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** §7.4: codes a peer may send (1005, 1006 and 1015 are never on the wire). */
function validCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}
