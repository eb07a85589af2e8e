import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AutoCredentials, canonicalName, describeCertificate, RENEW_DAYS, SERVER_DAYS } from '../../relay/tls/certificates.js';
import { tempDir } from '../helpers/relay.js';

const DAY = 86_400_000;

describe('canonicalName', () => {
  it('spells IPv6 as Node shows it in a certificate, and names in lower case', () => {
    expect(canonicalName('::1')).toBe('0:0:0:0:0:0:0:1');
    expect(canonicalName('[FE80::FC:FF:FE00:1]')).toBe('fe80:0:0:0:fc:ff:fe00:1');
    expect(canonicalName('2001:db8:0:0:0:0:0:17')).toBe('2001:db8:0:0:0:0:0:17');
    expect(canonicalName('Ferry.LAN')).toBe('ferry.lan');
    expect(canonicalName('192.168.1.20')).toBe('192.168.1.20');
  });
});

describe('AutoCredentials', () => {
  it('issues again for a new name or near the end, not otherwise, and keeps one CA', async () => {
    const { dir, remove } = tempDir();
    try {
      let names = ['localhost', '127.0.0.1', '::1'];
      const t0 = Date.now();
      const auto = await AutoCredentials.open(dir, 'test', () => names, t0);
      const first = auto.current.cert;
      expect(describeCertificate(first).names.sort()).toEqual(['0:0:0:0:0:0:0:1', '127.0.0.1', 'localhost']);
      expect(statSync(path.join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
      // Opened again (a restart): the stored certificate is kept, IPv6 spelling and all.
      const again = await AutoCredentials.open(dir, 'test', () => names, t0 + DAY);
      expect(again.current.cert).toBe(first);
      expect(await auto.refresh(t0 + DAY)).toBe(false);
      // A new address (the laptop joined another network): a certificate that covers it.
      names = [...names, '192.168.1.20'];
      expect(await auto.refresh(t0 + DAY)).toBe(true);
      expect(describeCertificate(auto.current.cert).names).toContain('192.168.1.20');
      // Near the end: renewed, by the same CA.
      expect(await auto.refresh(t0 + (SERVER_DAYS - RENEW_DAYS + 2) * DAY)).toBe(true);
      const ca = new X509Certificate(readFileSync(path.join(dir, 'ca.crt')));
      expect(new X509Certificate(auto.current.cert).checkIssued(ca)).toBe(true);
      expect(readFileSync(path.join(dir, 'server.crt'), 'utf8')).toBe(auto.current.cert);
    } finally {
      remove();
    }
  });
});
