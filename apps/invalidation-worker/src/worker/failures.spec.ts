import { ErrorReply } from 'redis';
import { deadLetterLabel, isMessageError } from './failures';

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
