import { ConfigError, readConfig } from '../../src/cli/config';

describe('configuration from the environment', () => {
  it('defaults to port 8080, the embedded store and authentication on', () => {
    expect(readConfig({})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      store: 'embedded',
      auth: 'jwt',
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be a whole number/],
    [{ STORE: 'mongodb' }, /STORE must be "embedded"/],
    [{ AUTH: 'maybe' }, /AUTH must be "jwt" or "off"/],
  ])('rejects %j with a clear message', (env, message) => {
    expect(() => readConfig(env)).toThrow(ConfigError);
    expect(() => readConfig(env)).toThrow(message);
  });

  it('turns authentication off only when AUTH=off is set', () => {
    expect(readConfig({ AUTH: 'off' }).auth).toBe('off');
  });
});
