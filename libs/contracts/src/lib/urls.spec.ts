import { endpointUrlProblem, plainTextProblem } from './urls';

describe('endpointUrlProblem', () => {
  it.each([
    'https://billing.acme.internal',
    'http://10.0.0.7:8080/v2/',
    'https://api.example.com/path?q=1',
    'HTTPS://Example.COM',
    'http://[::1]:3000/x',
    `https://a.example/${'x'.repeat(2048 - 'https://a.example/'.length)}`,
  ])('accepts %s', (url) => {
    expect(endpointUrlProblem(url)).toBeUndefined();
  });

  it.each([
    [42, /string/],
    ['', /absolute/],
    ['/relative/path', /absolute/],
    ['billing.acme.internal', /absolute/],
    ['javascript:alert(1)', /http or https/],
    ['ftp://files.example', /http or https/],
    ['file:///etc/passwd', /http or https/],
    ['http:host.example', /host/],
    ['http:/host.example', /host/],
    ['https://user:pw@host.example', /user info/],
    ['https://user@host.example', /user info/],
    ['https://host.example/#frag', /fragment/],
    [' https://host.example', /spaces/],
    ['https://host.example/a b', /spaces/],
    [`https://a.example/${'x'.repeat(2048)}`, /2048/],
    ['https://x.example/\ud800', /well-formed/],
  ])('refuses %p', (url, reason) => {
    expect(endpointUrlProblem(url)).toMatch(reason);
  });
});

describe('plainTextProblem', () => {
  it('accepts ordinary text', () => {
    expect(plainTextProblem('Acme Corporation — Zürich 🚀')).toBeUndefined();
  });

  it.each([
    ['a\u0000b', /control/],
    ['line\nbreak', /control/],
    ['\udc00', /well-formed/],
    [7, /string/],
  ])('refuses %p', (value, reason) => {
    expect(plainTextProblem(value)).toMatch(reason);
  });
});
