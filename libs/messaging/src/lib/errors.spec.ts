import { isKafkaUnavailable, kafkaErrorType } from './errors';

/** A kafkajs error as its client builds them: a protocol error, wrapped by its retries. */
function kafkaError(type: string | undefined, name = 'KafkaJSProtocolError'): Error {
  const inner = Object.assign(new Error(`broker said ${type}`), { name, type });
  return Object.assign(new Error(inner.message, { cause: inner }), { name: 'KafkaJSNumberOfRetriesExceeded' });
}

describe('a message Kafka refuses, or Kafka unavailable', () => {
  it.each(['UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_AUTHORIZATION_FAILED', 'MESSAGE_TOO_LARGE', 'POLICY_VIOLATION', 'SOMETHING_NEW'])('refused: %s', (type) => {
    expect(isKafkaUnavailable(kafkaError(type))).toBe(false);
    expect(kafkaErrorType(kafkaError(type))).toBe(type);
  });

  it.each(['NOT_ENOUGH_REPLICAS', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION'])('unavailable: %s', (type) => {
    expect(isKafkaUnavailable(kafkaError(type))).toBe(true);
  });

  it('no connection, or no answer, is unavailable', () => {
    expect(isKafkaUnavailable(kafkaError(undefined, 'KafkaJSConnectionError'))).toBe(true);
    expect(isKafkaUnavailable(kafkaError(undefined, 'KafkaJSRequestTimeoutError'))).toBe(true);
    expect(isKafkaUnavailable(Object.assign(new Error('Topic creation errors'), { name: 'KafkaJSAggregateError', errors: [kafkaError('NOT_ENOUGH_REPLICAS')] }))).toBe(true);
  });
});
