/**
 * Plain-HTTP side of the relay: health check, the one-time admin setup page (works
 * without JavaScript), and the built web app.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';
import { FerryError, PROTOCOL_VERSION } from './protocol/index.js';
import type { RelayContext } from './context.js';
import { escapeHtml, htmlPage, SECURITY_HEADERS } from './html.js';
import { createLinkHandler } from './links/link-http.js';
import { peerOf } from './peer.js';

/** Reads a small urlencoded form body. */
export async function readForm(req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > limit) throw new FerryError('BAD_MESSAGE', 'Form too large.');
    parts.push(part as Buffer);
  }
  return new URLSearchParams(Buffer.concat(parts).toString('utf8'));
}

function setupForm(token: string, error?: string): string {
  return `${error ? `<p class="err" role="alert">${escapeHtml(error)}</p>` : ''}
<p>Create the administrator account of this Ferry relay.</p>
<form method="post" action="/setup"><input type="hidden" name="token" value="${escapeHtml(token)}">
<label for="user">User name</label><input id="user" name="user" autocomplete="username" required maxlength="64">
<label for="password">Password (at least 8 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="8">
<label for="confirm">The same password again</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="8">
<button type="submit">Create admin</button></form>`;
}

/** Builds the HTTP request handler. */
export function createHttpHandler(ctx: RelayContext, linkSecret: Buffer) {
  const links = createLinkHandler(ctx, linkSecret);
  const app = existsSync(ctx.config.webDir) ? sirv(ctx.config.webDir, { single: true, etag: true, gzip: false, setHeaders: (res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  } }) : undefined;

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://relay');
    try {
      if (url.pathname === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ok: true, protocol: PROTOCOL_VERSION }));
        return;
      }
      if (url.pathname.startsWith('/s/') && (await links(req, res, url.pathname))) return;
      if (url.pathname.startsWith('/media/') && (await ctx.media.handle(req, res, url))) return;
      if (url.pathname.startsWith('/zip/') && (await ctx.zips.handle(req, res, url.pathname))) return;
      if (url.pathname === '/setup') {
        if (await ctx.library.meta.countAdmins() > 0) return htmlPage(res, 410, 'Already set up', '<p>This relay already has an administrator. <a href="/">Open Ferry</a>.</p>');
        if (req.method === 'POST') {
          const form = await readForm(req);
          try {
            // A form without the field (a script) is taken as confirmed; a different one is a typo.
            const confirm = form.get('confirm');
            if (confirm !== null && confirm !== form.get('password')) throw new FerryError('BAD_MESSAGE', 'The two passwords differ. Type the same password twice.');
            const user = await ctx.accounts.setupAdmin(form.get('token') ?? '', form.get('user') ?? '', form.get('password') ?? '');
            ctx.log.info({ event: 'setup', user: user.name, addr: peerOf(req, ctx.config.trustProxy).address }, 'admin created');
            return htmlPage(res, 201, 'Ready', `<p>Admin <strong>${escapeHtml(user.name)}</strong> created. <a href="/">Open Ferry</a> and sign in.</p>`);
          } catch (err) {
            const e = err as FerryError;
            return htmlPage(res, 400, 'Set up Ferry', setupForm(form.get('token') ?? '', `${e.code}: ${e.message}`));
          }
        }
        return htmlPage(res, 200, 'Set up Ferry', setupForm(url.searchParams.get('token') ?? ''));
      }
      if (app) return app(req, res, () => htmlPage(res, 404, 'Not found', '<p>Nothing here.</p>'));
      htmlPage(res, 503, 'Ferry relay', '<p>The relay runs, but the web app is not built. Run <code>npm run build</code>, or use the <code>ferry</code> command line.</p>');
    } catch (err) {
      ctx.log.error({ event: 'error', err, path: url.pathname }, 'http request failed');
      if (!res.headersSent) htmlPage(res, 500, 'Error', '<p>The relay hit an unexpected error.</p>');
    }
  };
}
