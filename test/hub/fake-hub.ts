/**
 * A local stand-in for the hub, serving the routes flow pull calls through @huggingface/hub and
 * fetch, with the headers they read: api/models/{repo}/revision/{rev} (the commit sha),
 * api/models/{repo}/tree/{sha} (paginated by Link, two entries a page), {repo}/resolve/{rev}/{path}
 * (git files served directly with their blob id as ETag; LFS files answered with a redirect that
 * carries X-Linked-ETag and X-Linked-Size, as the hub does, to a byte server honouring Range).
 * Xet-backed repos answer a xet-aware resolve with xet file info instead. Refusals carry
 * X-Error-Code as the hub sends it. Faults: drop the connection after N bytes of
 * a file, serve corrupted bytes under the right headers, the right bytes under a wrong
 * ETag, or stall mid-file.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface FakeRepo {
  /** 'gated' files need the token; 'private' repos answer 401 RepoNotFound to everything without it. */
  access?: 'public' | 'gated' | 'private';
  /** revision name -> commit sha */
  refs: Record<string, string>;
  /** commit sha -> path -> content; files of 32 bytes or more are served as LFS. */
  commits: Record<string, Record<string, Buffer>>;
  /** LFS files are xet-backed: a resolve asking for xet file info gets it (and no bytes). */
  xet?: boolean;
}

export interface Faults {
  /** path -> bytes to send before destroying the socket, once per entry (then deleted). */
  dropAfter: Map<string, number>;
  /** paths whose bytes are served with one byte flipped. */
  corrupt: Set<string>;
  /** paths served under the ETag of other content (a listing and headers that disagree). */
  misreport: Set<string>;
  /** path -> bytes to send before stalling (the response never ends), once per entry. */
  stallAfter: Map<string, number>;
}

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface FakeHub {
  endpoint: string;
  faults: Faults;
  requests: RequestLog[];
  close(): Promise<void>;
}

export const TOKEN = 'hf_fake0123456789';
const LFS_MIN = 32;

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const gitOid = (b: Buffer): string =>
  createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** Stands in for the xet content hash (a different function of the bytes than sha256). */
const xetHash = (b: Buffer): string => sha256(Buffer.concat([Buffer.from('xet'), b]));

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const faults: Faults = {
    dropAfter: new Map(),
    corrupt: new Set(),
    misreport: new Set(),
    stallAfter: new Map(),
  };
  const requests: RequestLog[] = [];
  let endpoint = '';

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    requests.push({
      method: req.method ?? 'GET',
      path: p,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    const authorized = req.headers.authorization === `Bearer ${TOKEN}`;
    const refuse = (status: number, code: string | undefined, error: string): void => {
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(code ? { 'x-error-code': code } : {}),
      });
      res.end(JSON.stringify({ error }));
    };
    if (req.headers.authorization && !authorized)
      return refuse(401, undefined, 'Invalid credentials in Authorization header');

    const cdn = /^\/cdn\/([0-9a-f]{64})\/(.+)$/.exec(p);
    if (cdn) return serveBytes(req, res, findBlob(repos, cdn[1] as string), cdn[2] as string, faults);

    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(p);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    const repoId = api?.[1] ?? resolve?.[1];
    const repo = repoId ? repos[repoId] : undefined;
    if (!repoId || !repo || (repo.access === 'private' && !authorized)) {
      return refuse(401, 'RepoNotFound', 'Repository not found');
    }
    const rev = (api?.[3] ?? resolve?.[2]) as string;
    const sha = repo.refs[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!sha) return refuse(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const files = repo.commits[sha] as Record<string, Buffer>;

    if (api?.[2] === 'revision') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          _id: `id-${repoId}`,
          id: repoId,
          sha,
          private: repo.access === 'private',
          gated: repo.access === 'gated' ? 'manual' : false,
          downloads: 0,
          likes: 0,
          lastModified: '2026-01-01T00:00:00.000Z',
        }),
      );
      return;
    }
    if (api?.[2] === 'tree') {
      const entries = Object.entries(files).map(([path, b]) => ({
        type: 'file',
        path,
        size: b.length,
        oid: gitOid(b),
        ...(b.length >= LFS_MIN ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 130 } } : {}),
        ...(b.length >= LFS_MIN && repo.xet ? { xetHash: xetHash(b) } : {}),
      }));
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(start, start + 2);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (start + 2 < entries.length) {
        const next = new URL(url.pathname + url.search, endpoint);
        next.searchParams.set('cursor', String(start + 2));
        headers.link = `<${next.href}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify(page));
      return;
    }
    const file = resolve?.[3] as string;
    const body = files[file];
    if (!body) return refuse(404, 'EntryNotFound', `Entry not found`);
    if (repo.access === 'gated' && !authorized) {
      return refuse(
        401,
        'GatedRepo',
        `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it.`,
      );
    }
    if (
      body.length >= LFS_MIN &&
      repo.xet &&
      req.headers.accept?.includes('application/vnd.xet-fileinfo+json')
    ) {
      // What the hub answers a xet-aware client: the file's xet hash and where to reconstruct it.
      res.writeHead(200, {
        'content-type': 'application/vnd.xet-fileinfo+json',
        'x-xet-hash': xetHash(body),
        'x-linked-size': String(body.length),
        'x-linked-etag': `"${sha256(body)}"`,
        link: `<${endpoint}/xet/reconstruction>; rel="xet-reconstruction-info", <${endpoint}/xet/token>; rel="xet-auth"`,
      });
      res.end('{}');
      return;
    }
    if (body.length >= LFS_MIN) {
      res.writeHead(302, {
        location: `${endpoint}/cdn/${sha256(body)}/${encodeURIComponent(file)}`,
        'x-linked-etag': `"${sha256(body)}"`,
        'x-linked-size': String(body.length),
        etag: `"${gitOid(Buffer.from('pointer'))}"`,
      });
      res.end();
      return;
    }
    serveBytes(req, res, { body, etag: gitOid(body) }, file, faults);
  });

  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    faults,
    requests,
    close: () =>
      new Promise<void>((ok, fail) => {
        server.closeAllConnections();
        server.close((e) => (e ? fail(e) : ok()));
      }),
  };
}

function findBlob(repos: Record<string, FakeRepo>, hash: string): { body: Buffer; etag: string } | undefined {
  for (const repo of Object.values(repos))
    for (const files of Object.values(repo.commits))
      for (const body of Object.values(files)) if (sha256(body) === hash) return { body, etag: hash };
  return undefined;
}

/** Whole body or one `bytes=a-b` / `bytes=a-` range, with the faults applied. */
function serveBytes(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  blob: { body: Buffer; etag: string } | undefined,
  file: string,
  faults: Faults,
): void {
  if (!blob) {
    res.writeHead(404);
    res.end();
    return;
  }
  let body = blob.body;
  if (faults.corrupt.has(file)) {
    body = Buffer.from(body);
    body[body.length - 1] = (body[body.length - 1] as number) ^ 0xff;
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = body.length - 1;
  const etag = faults.misreport.has(file)
    ? sha256(Buffer.from('other')).slice(0, blob.etag.length)
    : blob.etag;
  const headers: Record<string, string> = { etag: `"${etag}"`, 'accept-ranges': 'bytes' };
  if (range) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), end) : end;
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
  }
  const part = body.subarray(start, end + 1);
  headers['content-length'] = String(part.length);
  res.writeHead(range ? 206 : 200, headers);
  const stall = faults.stallAfter.get(file);
  if (stall !== undefined && part.length > 1) {
    faults.stallAfter.delete(file);
    res.write(part.subarray(0, stall));
    return;
  }
  const drop = faults.dropAfter.get(file);
  if (drop !== undefined && part.length > 1) {
    faults.dropAfter.delete(file);
    res.write(part.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(part);
}
