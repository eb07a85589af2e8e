/**
 * Which certificate authority the CLI trusts for an https relay. A relay with a public
 * certificate needs nothing; a relay with its own CA (`ferry serve --tls auto`) is
 * trusted on first use, as ssh trusts a host key: the CA's fingerprint is shown once and
 * its certificate kept. Later, a certificate that CA did not sign is refused.
 */
import { X509Certificate } from 'node:crypto';
import tls, { type DetailedPeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { FerryError } from '../protocol/index.js';

/** What a TLS handshake with the relay showed. */
export interface TlsProbe {
  /** The chain verified against the given CA (or the system's) and names this host. */
  trusted: boolean;
  /** Why not, as Node names it (`SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, …). */
  reason?: string;
  /** The root of the chain the relay sent, when that root is a CA certificate. */
  root?: { pem: string; fingerprint: string; subject: string };
}

function pemOf(raw: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** One TLS handshake with the relay of `url`, checked against `ca` (PEM) or the system's CAs. */
export function probeTls(url: string, ca?: string, timeoutMs = 10_000): Promise<TlsProbe> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port: Number(u.port || 443), servername: isIP(host) ? undefined : host, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS answer from ${u.host} in ${timeoutMs / 1000} s`)));
    socket.once('secureConnect', () => {
      let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate;
      const seen = new Set<string>();
      while (cert?.issuerCertificate && cert.issuerCertificate !== cert && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        cert = cert.issuerCertificate;
      }
      let root: TlsProbe['root'];
      if (cert?.raw) {
        const x = new X509Certificate(cert.raw);
        if (x.ca) root = { pem: pemOf(cert.raw), fingerprint: x.fingerprint256, subject: x.subject.replace(/\n/g, ', ') };
      }
      const reason = socket.authorized ? undefined : String((socket.authorizationError as unknown as Error)?.message ?? socket.authorizationError);
      socket.destroy();
      resolve({ trusted: socket.authorized, reason, root });
    });
    socket.once('error', (err) => reject(new FerryError('CONNECTION_LOST', `Cannot reach ${u.host} over TLS: ${err.message}`)));
  });
}

/** The refusal for a relay whose certificate this client does not trust. */
export function untrusted(url: string, probe: TlsProbe, hint: string): FerryError {
  const seen = probe.root ? ` Its authority: ${probe.root.subject}, SHA-256 ${probe.root.fingerprint}.` : '';
  return new FerryError('TLS_UNTRUSTED', `The certificate of ${new URL(url).host} is not trusted (${probe.reason ?? 'unknown authority'}).${seen} ${hint}`);
}
