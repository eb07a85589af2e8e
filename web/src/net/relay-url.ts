/** The relay's WebSocket URL for a page or worker served by the relay (same origin). */
export function relayUrl(at: { protocol: string; host: string } = location): string {
  return `${at.protocol === 'https:' ? 'wss:' : 'ws:'}//${at.host}/ws`;
}
