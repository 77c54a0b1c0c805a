import { parseRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it('takes a single node as node-redis does', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ cluster: false, url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('rediss://u:p@cache.example:6380/2')).toEqual({ cluster: false, url: 'rediss://u:p@cache.example:6380/2' });
  });

  it('takes a cluster: seed nodes, TLS, percent-encoded credentials', () => {
    expect(parseRedisUrl('redis+cluster://h1:7000,h2:7001')).toEqual({
      cluster: true,
      tls: false,
      nodes: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
      ],
    });
    expect(parseRedisUrl('rediss+cluster://tm:p%40ss%3Aword@10.0.0.1:6379,[::1]:6380/')).toEqual({
      cluster: true,
      tls: true,
      username: 'tm',
      password: 'p@ss:word',
      nodes: [
        { host: '10.0.0.1', port: 6379 },
        { host: '::1', port: 6380 },
      ],
    });
    expect(parseRedisUrl('redis+cluster://:secret@h1:7000')).toMatchObject({ password: 'secret' });
    expect(parseRedisUrl('redis+cluster://:secret@h1:7000')).not.toHaveProperty('username');
  });

  it.each(['', 'notaurl', 'http://h:1', 'redis+cluster://', 'redis+cluster://h1', 'redis+cluster://h1:0', 'redis+cluster://h1:7000/1', 'redis+cluster://h1:7000,,h2:7001', 'redis+cluster://u:%zz@h1:7000'])(
    'refuses %j',
    (value) => expect(parseRedisUrl(value)).toBeUndefined(),
  );
});
