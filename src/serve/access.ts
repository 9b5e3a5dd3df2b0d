/**
 * Who may talk to the server. On a loopback address anyone on this machine may, as long as the
 * request names a loopback host (a page on another site that rebinds its DNS name to 127.0.0.1
 * does not); on any other address only with the access token, given once as `?token=` (it is
 * then kept in a same-site cookie), as a cookie, or as `Authorization: Bearer`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { FlowError } from '../graph/errors.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);
export const TOKEN_COOKIE = 'flow_token';

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Refuse to serve a non-loopback address without a token (and a token too short to guess). */
export function checkBinding(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < 16) throw new FlowError('--token must be at least 16 characters');
  if (!isLoopback(host) && token === undefined)
    throw new FlowError(
      `refusing to serve on ${host} without an access token: pass --token T (at least 16 characters) or use 127.0.0.1`,
    );
}

function same(a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export interface RequestCredentials {
  hostHeader?: string;
  authorization?: string;
  cookie?: string;
  queryToken?: string;
}

/** 'ok', or why the request is refused. */
export function checkRequest(c: RequestCredentials, token: string | undefined): 'ok' | 'token' | 'host' {
  if (token === undefined) {
    const hostname = (c.hostHeader ?? '').replace(/:\d+$/, '');
    return isLoopback(hostname) ? 'ok' : 'host';
  }
  const bearer = c.authorization?.startsWith('Bearer ') ? c.authorization.slice(7) : undefined;
  const cookie = c.cookie
    ?.split(';')
    .map((p) => p.trim())
    .find((p) => p.startsWith(`${TOKEN_COOKIE}=`))
    ?.slice(TOKEN_COOKIE.length + 1);
  return [bearer, cookie, c.queryToken].some((t) => t !== undefined && same(t, token)) ? 'ok' : 'token';
}
