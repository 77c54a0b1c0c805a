import { ErrorReply } from 'redis';
import { deadLetterLabel, isKafkaUnavailable, isMessageError, kafkaErrorType } from './failures';

/** A kafkajs error as its client builds them: a protocol error, wrapped by its retries. */
function kafkaError(type: string | undefined, name = 'KafkaJSProtocolError'): Error {
  const inner = Object.assign(new Error(`broker said ${type}`), { name, type });
  return Object.assign(new Error(inner.message, { cause: inner }), { name: 'KafkaJSNumberOfRetriesExceeded' });
}

describe('which failures are a message\'s own', () => {
  it.each(['WRONGTYPE Operation against a key holding the wrong kind of value', 'ERR user_script:12: Script attempted to access nonexistent global variable', 'BADCODE from a script'])(
    'a reply error to its script is: %s',
    (message) => expect(isMessageError(new ErrorReply(message))).toBe(true),
  );

  it.each(['LOADING Redis is loading the dataset in memory', 'READONLY You can\'t write against a read only replica.', 'OOM command not allowed', 'CLUSTERDOWN The cluster is down', 'NOSCRIPT No matching script', 'BUSY Redis is busy running a script', 'NOAUTH Authentication required.', 'MOVED 3999 127.0.0.1:6381', 'TRYAGAIN', 'MASTERDOWN Link with MASTER is down'])(
    'a condition of Redis itself is not: %s',
    (message) => expect(isMessageError(new ErrorReply(message))).toBe(false),
  );

  it('a connection failure (not a reply) is not', () => {
    expect(isMessageError(new Error('The client is closed'))).toBe(false);
    expect(isMessageError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe(false);
  });

  it('labels dead letters with a bounded set of reasons', () => {
    expect(deadLetterLabel(undefined)).toBe('invalid_event');
    expect(deadLetterLabel(new ErrorReply('WRONGTYPE Operation against a key'))).toBe('redis_wrongtype');
    expect(deadLetterLabel(new ErrorReply('ERR user_script:1: oops'))).toBe('redis_err');
    expect(deadLetterLabel(new ErrorReply('anything a script raised'))).toBe('redis_other');
  });
});

describe('a dead letter Kafka refuses, or Kafka unavailable', () => {
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
