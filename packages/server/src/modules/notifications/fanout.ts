/**
 * WebSocket fan-out across nodes (ZHIFU_REDIS_URL; docs/notifications.md): a node that commits a
 * merchant's events announces them on one Redis channel, and every other node holding that
 * merchant's sockets sends them at once, instead of finding them at its next outbox poll (up to
 * 1 s later). The outbox stays the source of truth: a lost announcement (Redis away, a node
 * subscribing late) only delays events until that poll, and a node sends an announced event only
 * when it is the next its socket awaits, else it reads the outbox.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Shared } from '../../lib/redis.ts';
import type { ZhifuEvent } from './notifications.service.ts';

interface Announcement {
  /** The announcing node: it has sent them to its own sockets already. */
  node: string;
  mchid: string;
  events: ZhifuEvent[];
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

  /** Subscribes; `deliver` gets the events other nodes announce. */
  async start(deliver: (mchid: string, events: ZhifuEvent[]) => void): Promise<void> {
    const subscriber = this.shared.redis.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', this.onError);
    subscriber.on('message', (_channel: string, text: string) => {
      let message: Announcement;
      try {
        message = JSON.parse(text) as Announcement;
      } catch (error) {
        this.onError(error);
        return;
      }
      if (message.node !== this.node) deliver(message.mchid, message.events);
    });
    await subscriber.subscribe(this.channel);
  }

  announce(mchid: string, events: ZhifuEvent[]): void {
    const message: Announcement = { node: this.node, mchid, events };
    this.shared.redis.publish(this.channel, JSON.stringify(message)).catch(this.onError);
  }

  stop(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
