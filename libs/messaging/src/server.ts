import { ServerNats, type CustomTransportStrategy } from '@nestjs/microservices';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { EnvelopeSerializer, JsonRequestDeserializer } from './serializer.js';
import { assertPrefix, natsConnectionOptions, watchViolations, type NatsOptions } from './nats.js';

/**
 * Nest's NATS server speaking plain JSON (our serializer pair), subscribing every pattern in the service's queue
 * group under an optional subject prefix, and draining on shutdown so in-flight requests are answered.
 */
export class AgentplaneNatsServer extends ServerNats implements CustomTransportStrategy {
  private readonly subs: Subscription[] = [];

  constructor(private readonly nats: NatsOptions & { queue: string }) {
    super({
      ...natsConnectionOptions(nats),
      queue: nats.queue,
      serializer: new EnvelopeSerializer(),
      deserializer: new JsonRequestDeserializer(),
    } as ConstructorParameters<typeof ServerNats>[0]);
    assertPrefix(nats.prefix);
  }

  override bindEvents(client: NatsConnection): void {
    watchViolations(client, this.nats.name);
    for (const channel of this.messageHandlers.keys()) {
      const handler = this.messageHandlers.get(channel);
      const queue = (handler?.extras?.queue as string | undefined) ?? this.nats.queue;
      const onMessage = this.getMessageHandler(channel) as (err: Error | null, msg: unknown) => void;
      this.subs.push(client.subscribe(`${this.nats.prefix}${channel}`, { queue, callback: onMessage.bind(this) }));
    }
  }

  override async close(): Promise<void> {
    try {
      const nc = this.unwrap<NatsConnection>();
      if (!nc.isClosed()) await nc.drain();
    } catch {
      // not connected: nothing to drain
    }
    await super.close();
  }
}
