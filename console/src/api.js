// The sbx HTTP API, on this page's own origin (the local stack serves both; on AWS the
// CloudFront distribution does). Every call carries the bearer token; a 401 is answered by one
// refresh with the refresh token and one retry, and if that fails the session ends and the
// console returns to sign-in. A 503, a 429 or an unreachable API is an ApiError whose
// `unavailable` is true: pages say the API is unavailable and try again, they never go blank.

import * as session from './session.js';

export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(problem.detail || problem.message || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** The API could not answer now; the same request may succeed later. */
  get unavailable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let signedOut = () => {};
/** Called with a message when the session ends (refused tokens). */
export function onSignedOut(handler) {
  signedOut = handler;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

async function send(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers }, cache: 'no-store' };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: 'unreachable', detail: 'the sbx API cannot be reached' });
  }
}

function failure(response, problem) {
  const retry = Number(response.headers.get('retry-after'));
  return new ApiError(response.status, problem ?? {}, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** Signs in with a user name and password (POST /token); returns the session. */
export async function signIn(username, password) {
  const response = await send('POST', '/token', { body: { username, password } });
  const body = await parse(response);
  if (!response.ok) throw failure(response, body);
  return session.save(body);
}

let refreshing = null;
/** One refresh at a time, shared by every request that met a 401 or an expired token. */
function refresh(current) {
  if (!refreshing) {
    refreshing = (async () => {
      if (!current?.refresh_token) throw new ApiError(401, { detail: 'no refresh token' });
      const response = await send('POST', '/token', { body: { refresh_token: current.refresh_token } });
      const body = await parse(response);
      if (!response.ok) throw failure(response, body);
      return session.save(body, current);
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function end(message) {
  session.clear();
  signedOut(message);
  return new ApiError(401, { detail: message });
}

/**
 * `method path` as the signed-in user. With `etag`, a GET is conditional: the answer is
 * `{ status: 304 }` when nothing changed. Otherwise `{ status, data, etag }`, or an ApiError.
 */
export async function request(method, path, { body, etag, headers = {} } = {}) {
  let current = session.load();
  if (!current) throw end('Sign in to continue.');
  if (current.expires_at && current.expires_at - Date.now() < 30_000) {
    try {
      current = await refresh(current);
    } catch (err) {
      if (err instanceof ApiError && err.unavailable) throw err;
      throw end('Your session has ended. Sign in again.');
    }
  }
  const extra = { ...headers };
  if (etag && method === 'GET') extra['if-none-match'] = etag;
  let response = await send(method, path, { token: current.access_token, body, headers: extra });
  if (response.status === 401) {
    try {
      current = await refresh(current);
    } catch (err) {
      if (err instanceof ApiError && err.unavailable) throw err;
      throw end('Your session has ended. Sign in again.');
    }
    response = await send(method, path, { token: current.access_token, body, headers: extra });
    if (response.status === 401) throw end('Your session has ended. Sign in again.');
  }
  if (response.status === 304) return { status: 304, etag };
  const data = await parse(response);
  if (!response.ok) throw failure(response, data);
  return { status: response.status, data, etag: response.headers.get('etag') };
}

/** A query string of the defined, non-empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const enc = encodeURIComponent;
