/**
 * The relay's certificates. With `--tls auto` the relay is its own small certificate
 * authority: a CA made once in `<data>/tls/` (its key never leaves that folder, 0600),
 * and a server certificate it issues for every name and address it answers on, issued
 * again when a name is new or the certificate nears its end. With `--tls-cert/--tls-key`
 * the files are read again whenever they change (a renewal by certbot or similar).
 *
 * Keys and signatures come from WebCrypto (ECDSA P-256, SHA-256); @peculiar/x509 only
 * writes and reads the certificate structures.
 */
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** A CA lasts long: people install it on their phones once. */
export const CA_DAYS = 3650;
/** Server certificates last 180 days (well inside what phones accept from a private CA)… */
export const SERVER_DAYS = 180;
/** …and are issued again when fewer than 30 days are left. */
export const RENEW_DAYS = 30;

/** The PEM text of a key pair and certificate, as Node's TLS takes them. */
export interface Credentials {
  cert: string;
  key: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

function derOf(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Writes a file readable by the relay's user only, whole or not at all. */
function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  chmodSync(file, 0o600);
}

/** `AB:CD:…` — the SHA-256 fingerprint of a certificate, as browsers and phones show it. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f; // a positive number
  return Buffer.from(b).toString('hex');
}

/** The relay's own certificate authority, kept in `dir`. */
export class RelayCa {
  private constructor(
    readonly dir: string,
    /** The CA certificate people install (PEM). */
    readonly certPem: string,
    private readonly keys: CryptoKeyPair,
  ) {}

  /** Opens the CA in `dir`, making it the first time. */
  static async open(dir: string, label: string): Promise<RelayCa> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const certFile = path.join(dir, 'ca.crt');
    const keyFile = path.join(dir, 'ca.key');
    if (existsSync(certFile) && existsSync(keyFile)) {
      chmodSync(keyFile, 0o600);
      const certPem = readFileSync(certFile, 'utf8');
      const privateKey = await webcrypto.subtle.importKey('pkcs8', derOf(readFileSync(keyFile, 'utf8')), ALG, false, ['sign']);
      const publicKey = await new x509.X509Certificate(certPem).publicKey.export(ALG, ['verify']);
      return new RelayCa(dir, certPem, { privateKey, publicKey });
    }
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=Ferry relay CA (${label.replace(/[,+="<>#;\\]/g, ' ')}), O=Ferry`,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + CA_DAYS * DAY),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    // The key first: a certificate without its key is never left behind.
    writePrivate(keyFile, pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
    const certPem = cert.toString('pem') + '\n';
    writePrivate(certFile, certPem);
    return new RelayCa(dir, certPem, keys);
  }

  get fingerprint(): string {
    return fingerprintOf(this.certPem);
  }

  /** The CA certificate in DER, as Android installs it from a `.crt`. */
  get der(): Buffer {
    return derOf(this.certPem);
  }

  /** Issues a server certificate for these host names and addresses, valid from `now`. */
  async issue(names: string[], now: number): Promise<Credentials> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const ca = new x509.X509Certificate(this.certPem);
    const alt = names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${names.find((n) => !isIP(n)) ?? names[0]}`,
      issuer: ca.subject,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + SERVER_DAYS * DAY),
      signingKey: this.keys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(alt, false),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      ],
    });
    return { cert: cert.toString('pem') + '\n' + this.certPem, key: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
  }
}

/** A host name or address in one spelling: lower case, IPv6 written out in full as Node shows it. */
export function canonicalName(name: string): string {
  const n = name.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(n) !== 6) return n;
  const [head, tail] = n.includes('::') ? n.split('::') : [n, undefined];
  const a = head ? head.split(':') : [];
  const b = tail ? tail.split(':') : [];
  const groups = tail === undefined ? a : [...a, ...Array(8 - a.length - b.length).fill('0'), ...b];
  return groups.map((g) => g.replace(/^0+(?=.)/, '')).join(':');
}

/** The names a certificate covers (DNS names and IP addresses), and when it ends. */
export function describeCertificate(certPem: string): { names: string[]; notAfter: number; fingerprint: string } {
  const c = new X509Certificate(certPem);
  const names = (c.subjectAltName ?? '')
    .split(', ')
    .map((s) => canonicalName(s.replace(/^(DNS|IP Address):/, '')))
    .filter(Boolean);
  return { names, notAfter: Date.parse(c.validTo), fingerprint: c.fingerprint256 };
}

/** Where the relay's TLS credentials come from, and when they are read or made again. */
export interface CredentialSource {
  /** The credentials to serve now. */
  readonly current: Credentials;
  /** Reads or issues again when due; resolves true when `current` changed. */
  refresh(now: number): Promise<boolean>;
  /** The relay's own CA, when it has one (`--tls auto`). */
  readonly ca?: RelayCa;
}

/** `--tls auto`: certificates from the relay's own CA, for `names()` as they are now. */
export class AutoCredentials implements CredentialSource {
  private constructor(
    readonly ca: RelayCa,
    private readonly names: () => string[],
    public current: Credentials,
  ) {}

  static async open(dir: string, label: string, names: () => string[], now: number): Promise<AutoCredentials> {
    const ca = await RelayCa.open(dir, label);
    const certFile = path.join(dir, 'server.crt');
    const keyFile = path.join(dir, 'server.key');
    const stored = existsSync(certFile) && existsSync(keyFile) ? { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') } : undefined;
    const self = new AutoCredentials(ca, names, stored ?? { cert: '', key: '' });
    if (!stored || self.due(now)) await self.reissue(now);
    return self;
  }

  /** A new certificate is due: a name it lacks, or fewer than RENEW_DAYS left, or another CA's. */
  private due(now: number): boolean {
    try {
      const { names, notAfter } = describeCertificate(this.current.cert);
      const has = new Set(names);
      if (!new X509Certificate(this.current.cert).checkIssued(new X509Certificate(this.ca.certPem))) return true;
      return notAfter - now < RENEW_DAYS * DAY || this.names().some((n) => !has.has(canonicalName(n)));
    } catch {
      return true; // unreadable: issue a fresh one
    }
  }

  private async reissue(now: number): Promise<void> {
    const fresh = await this.ca.issue(this.names(), now);
    writePrivate(path.join(this.ca.dir, 'server.key'), fresh.key);
    writePrivate(path.join(this.ca.dir, 'server.crt'), fresh.cert);
    this.current = fresh;
  }

  async refresh(now: number): Promise<boolean> {
    if (!this.due(now)) return false;
    await this.reissue(now);
    return true;
  }
}

/** `--tls-cert FILE --tls-key FILE`: read again whenever either file changes. */
export class FileCredentials implements CredentialSource {
  private stamp: string;
  current: Credentials;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
  ) {
    this.current = this.read();
    this.stamp = this.stampNow();
  }

  private stampNow(): string {
    return [this.certFile, this.keyFile].map((f) => { const s = statSync(f); return `${s.mtimeMs}:${s.size}:${s.ino}`; }).join('|');
  }

  private read(): Credentials {
    const creds = { cert: readFileSync(this.certFile, 'utf8'), key: readFileSync(this.keyFile, 'utf8') };
    new X509Certificate(creds.cert); // refuse what is not a certificate before serving it
    return creds;
  }

  async refresh(): Promise<boolean> {
    let stamp: string;
    try {
      stamp = this.stampNow();
    } catch {
      return false; // a renewal tool replacing the files: keep serving the old pair
    }
    if (stamp === this.stamp) return false;
    try {
      this.current = this.read();
    } catch {
      return false; // half-written: the next look reads it whole
    }
    this.stamp = stamp;
    return true;
  }
}

/**
 * An Apple configuration profile that installs the CA (iOS and macOS: Settings → Profile
 * Downloaded → Install, then trust it under About → Certificate Trust Settings).
 */
export function mobileConfig(ca: RelayCa, label: string): string {
  const id = ca.fingerprint.replace(/:/g, '').slice(0, 32).toLowerCase();
  const uuid = (salt: string) => {
    const h = Buffer.from(id + salt).toString('hex').padEnd(32, '0').slice(0, 32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`.toUpperCase();
  };
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadCertificateFileName</key><string>ferry-ca.crt</string>
<key>PayloadContent</key><data>${ca.der.toString('base64')}</data>
<key>PayloadDisplayName</key><string>${esc(`Ferry relay CA (${label})`)}</string>
<key>PayloadIdentifier</key><string>org.ferry.ca.${id}.cert</string>
<key>PayloadType</key><string>com.apple.security.root</string>
<key>PayloadUUID</key><string>${uuid('cert')}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDisplayName</key><string>${esc(`Ferry on ${label}`)}</string>
<key>PayloadDescription</key><string>Lets this device reach the Ferry relay on ${esc(label)} over HTTPS.</string>
<key>PayloadIdentifier</key><string>org.ferry.ca.${id}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${uuid('profile')}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
`;
}
