/**
 * WebSocket fan-out across nodes (ZHIFU_REDIS_URL; docs/notifications.md): a node that commits a
 * merchant's events announces the merchant and the last sequence on one Redis channel, and every
 * other node holding sockets of that merchant behind that sequence reads the outbox for them at
 * once, instead of at its next outbox poll (up to 1 s later; bench:fanout). The outbox stays the
 * source of truth: a lost announcement (Redis away, a node subscribing late) only delays events
 * until that poll.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Shared } from '../../lib/redis.ts';
import type { ZhifuEvent } from './notifications.service.ts';

interface Announcement {
  /** The announcing node: its own sockets have them already. */
  node: string;
  mchid: string;
  /** The last sequence committed; the events themselves are read from the outbox. */
  seq: number;
}

/**
 * An announcement is a hint, never content: whatever can PUBLISH on the Redis must not make a node
 * sign and send an event, nor move a socket's position past one it has not sent. Anything that is
 * not an announcement is dropped (and must never throw: this runs in the client's data handler).
 */
function parseAnnouncement(text: string): Announcement | undefined {
  try {
    const m: unknown = JSON.parse(text);
    if (typeof m !== 'object' || m === null) return undefined;
    const { node, mchid, seq } = m as Record<string, unknown>;
    if (typeof node !== 'string' || typeof mchid !== 'string' || !Number.isSafeInteger(seq)) return undefined;
    return { node, mchid, seq: seq as number };
  } catch {
    return undefined;
  }
}

export class Fanout {
  /** Not from the ids port: two apps of one test share its seed, and must not take each other for themselves. */
  private readonly node = randomUUID();
  private readonly channel: string;
  private subscriber: Redis | undefined;

  constructor(
    private readonly shared: Shared,
    private readonly onError: (error: unknown) => void,
  ) {
    this.channel = `${shared.prefix}events`;
  }

  /** Subscribes (once); `deliver` gets the merchant and last sequence other nodes announce. */
  async start(deliver: (mchid: string, seq: number) => void): Promise<void> {
    if (this.subscriber) return;
    const subscriber = this.shared.redis.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', this.onError);
    subscriber.on('message', (_channel: string, text: string) => {
      const message = parseAnnouncement(text);
      if (!message) {
        this.onError(new Error(`ignored a malformed announcement on ${this.channel}`));
        return;
      }
      if (message.node !== this.node) deliver(message.mchid, message.seq);
    });
    await subscriber.subscribe(this.channel);
  }

  announce(mchid: string, events: ZhifuEvent[]): void {
    const last = events[events.length - 1];
    if (!last) return;
    const message: Announcement = { node: this.node, mchid, seq: last.seq };
    this.shared.redis.publish(this.channel, JSON.stringify(message)).catch(this.onError);
  }

  stop(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
