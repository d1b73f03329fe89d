/**
 * Baseline for `npm run bench:notify`: a bare `ws` server that sends every message straight back.
 * Run as a child process (PORT); prints `listening <port>` when ready. No parsing, no signing, no
 * database: what one WebSocket round trip costs on this machine.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  perMessageDeflate: false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const address = wss.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : address}\n`);
});
const stop = () => wss.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
