/** Server-rendered pages (setup, share links): security headers, escaping, one layout in the app's look. */
import type { ServerResponse } from 'node:http';

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; frame-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Text as HTML: every character that could start markup is escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The app's colours and type, inline (these pages work without JavaScript and without the app's files). */
const STYLE = `:root{color-scheme:light dark;--bg:#f7f7f8;--panel:#fff;--text:#1b1c1f;--muted:#5d6270;--line:#dfe1e6;--accent:#1d4ed8;--accent-text:#fff;--bad:#b91c1c}
@media (prefers-color-scheme:dark){:root{--bg:#111214;--panel:#1b1c20;--text:#ececf1;--muted:#a0a4b0;--line:#30323a;--accent:#6b93ff;--accent-text:#0b1020;--bad:#f87171}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
.top{display:flex;align-items:center;gap:.5rem;padding:.75rem 1rem;font-weight:700}.top img{display:block}
main{max-width:34rem;margin:1rem auto 3rem;padding:0 1rem}.card{background:var(--panel);border:1px solid var(--line);border-radius:14px;padding:1.5rem}
h1{font-size:1.35rem;line-height:1.3;margin:0 0 .25rem;overflow-wrap:anywhere}.muted{color:var(--muted)}.err{color:var(--bad)}
label{display:block;margin:1rem 0 .3rem;font-weight:600}input{width:100%;padding:.7rem;font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:10px}
button,.button{display:block;width:100%;margin-top:1.25rem;padding:.9rem 1rem;font:inherit;font-weight:600;font-size:1.1rem;text-align:center;text-decoration:none;color:var(--accent-text);background:var(--accent);border:0;border-radius:12px;cursor:pointer}
button:focus-visible,.button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.preview{display:block;margin:0 auto 1.25rem;max-width:100%;max-height:16rem;border-radius:10px}
.from{margin:1rem 0 0}.message{margin:.5rem 0 0;padding:.75rem 1rem;border-left:4px solid var(--accent);background:var(--bg);border-radius:0 10px 10px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.facts{margin:1rem 0 0;padding:0;list-style:none}.facts li{padding:.15rem 0}
details{margin-top:1.25rem}summary{cursor:pointer;color:var(--muted)}.mono{font-family:ui-monospace,'SF Mono',Menlo,Consolas,monospace;font-size:14px;word-break:break-all}
code{font-family:ui-monospace,'SF Mono',Menlo,Consolas,monospace;font-size:14px;overflow-wrap:anywhere}
button:disabled{opacity:.55;cursor:default}progress{display:block;width:100%;height:.6rem;margin-top:1rem;accent-color:var(--accent)}[hidden]{display:none!important}
.lock{display:inline-flex;align-items:center;gap:.35rem;font-size:.9rem;color:var(--muted);margin:0 0 .5rem}`;

/**
 * Writes a page: the Ferry bar, then `body` in a card. `body` is HTML the caller built
 * with escapeHtml; `script` names a same-origin script that only improves the page.
 */
export function htmlPage(res: ServerResponse, status: number, title: string, body: string, headers: Record<string, string> = {}, opts: { heading?: boolean; script?: string; module?: boolean } = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...headers });
  const heading = opts.heading === false ? '' : `<h1>${escapeHtml(title)}</h1>`;
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Ferry</title><link rel="icon" href="/icon.svg"><style>${STYLE}</style></head>
<body><header class="top"><img src="/icon.svg" alt="" width="28" height="28"> Ferry</header><main><div class="card">${heading}${body}</div></main>${opts.script ? `<script src="${escapeHtml(opts.script)}" ${opts.module ? 'type="module"' : 'defer'}></script>` : ''}</body></html>`);
}
