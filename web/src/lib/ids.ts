/**
 * A random id for a transfer or a queued file. `crypto.randomUUID` exists only in secure
 * contexts; `getRandomValues` everywhere, so the app also runs on a plain-http LAN page.
 */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
