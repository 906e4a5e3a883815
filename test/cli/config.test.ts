import { ConfigError, readConfig } from '../../src/cli/config';

describe('configuration from the environment', () => {
  it('defaults to port 8080, the embedded store and authentication on (dev key)', () => {
    expect(readConfig({})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      store: { kind: 'embedded' },
      auth: { mode: 'dev-key' },
      rateLimitPerMinute: 600,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be a whole number/],
    [{ STORE: 'mongodb' }, /STORE must be "embedded" or the http\(s\) base URL/],
    [{ STORE: 'ftp://fhir.example/fhir' }, /STORE must be an http or https URL/],
    [{ AUTH: 'maybe' }, /AUTH must be "jwt" or "off"/],
    [{ AUTH_ISSUER: 'https://idp' }, /Set all of AUTH_ISSUER, AUTH_AUDIENCE and AUTH_JWKS/],
    [{ RATE_LIMIT_PER_MINUTE: '-1' }, /RATE_LIMIT_PER_MINUTE must be a whole number/],
    [
      { BASE_URL: 'dialog.trust.nhs.uk' },
      /BASE_URL must be the service's public http\(s\) address/,
    ],
    [{ BASE_URL: 'ftp://dialog.example' }, /BASE_URL must be/],
    [
      { LOG_LEVEL: 'loud' },
      /LOG_LEVEL must be one of error, warn, info, http, verbose, debug, silly/,
    ],
    [{ BASE_URL: 'https://dialog.example/?x=1' }, /BASE_URL must be/],
  ])('rejects %j with a clear message', (env, message) => {
    expect(() => readConfig(env)).toThrow(ConfigError);
    expect(() => readConfig(env)).toThrow(message);
  });

  it('takes BASE_URL as the public address, without a trailing slash', () => {
    expect(readConfig({ BASE_URL: 'https://dialog.example/trust-a/' }).baseUrl).toBe(
      'https://dialog.example/trust-a',
    );
    expect(readConfig({}).baseUrl).toBeUndefined();
  });

  it('takes LOG_LEVEL in any case', () => {
    expect(readConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
  });

  it('turns authentication off only when AUTH=off is set', () => {
    expect(readConfig({ AUTH: 'off' }).auth).toEqual({ mode: 'off' });
    expect(readConfig({ AUTH: 'jwt' }).auth).toEqual({ mode: 'dev-key' });
  });

  it('takes a FHIR server base URL as the store, with its token', () => {
    expect(readConfig({ STORE: 'https://fhir.example/R4', STORE_TOKEN: 't' }).store).toEqual({
      kind: 'fhir-server',
      baseUrl: 'https://fhir.example/R4',
      token: 't',
    });
  });

  it('takes a token issuer when all three settings are given', () => {
    const env = {
      AUTH_ISSUER: 'https://idp.example',
      AUTH_AUDIENCE: 'dialog-fhir',
      AUTH_JWKS: 'https://idp.example/jwks',
    };
    expect(readConfig(env).auth).toEqual({
      mode: 'issuer',
      issuer: 'https://idp.example',
      audience: 'dialog-fhir',
      jwks: 'https://idp.example/jwks',
    });
  });
});
