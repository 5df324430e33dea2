// A local HTTP server in the Hugging Face hub's URL layout: GET /{owner}/{name}/resolve/{rev}/{file}
// serves {root}/{owner}/{name}/{file}. Counts requests so tests can check caching; CORS open.

import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

export interface HubServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startHubServer(root: string, opts: { token?: string } = {}): Promise<HubServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', '*');
    if (req.method === 'OPTIONS') return void res.end();
    const url = decodeURIComponent((req.url ?? '').split('?')[0]);
    requests.push(url);
    const m = /^\/([\w.-]+)\/([\w.-]+)\/resolve\/([\w.-]+)\/(.+)$/.exec(url);
    if (!m || normalize(m[4]).startsWith('..')) {
      res.statusCode = 404;
      return void res.end('not found');
    }
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.statusCode = 401;
      return void res.end('unauthorized');
    }
    try {
      const body = await readFile(join(root, m[1], m[2], normalize(m[4])));
      res.setHeader('content-length', body.length);
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end('entry not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, requests, close: () => new Promise((ok) => server.close(() => ok())) };
}
