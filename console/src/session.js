// The signed-in user's tokens. The access token (an hour at most) is kept in this tab's session
// storage, so that a reload keeps the user signed in until it expires; the refresh token (30 days)
// only in this page's memory, where a script injected into the page's storage cannot read it
// after the fact and no reload or other tab can replay it. Neither is ever in a URL or local
// storage. What the console shows about the user (name, admin) comes from the access token's
// claims; the API decides what the user may do.

const KEY = 'sbx.session';

// The refresh token: gone with the page, so a reload signs in again once the access token ends.
let refreshToken = null;

export function load() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    if (!stored || typeof stored.access_token !== 'string') return null;
    return { access_token: stored.access_token, expires_at: stored.expires_at, refresh_token: refreshToken };
  } catch {
    return null;
  }
}

export function save(tokens, previous = null) {
  // A refresh answer carries no new refresh token: the first one goes on.
  refreshToken = tokens.refresh_token ?? previous?.refresh_token ?? refreshToken ?? null;
  const stored = {
    access_token: tokens.access_token,
    expires_at: Date.now() + Number(tokens.expires_in ?? 3600) * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(stored));
  return { ...stored, refresh_token: refreshToken };
}

export function clear() {
  refreshToken = null;
  sessionStorage.removeItem(KEY);
}

/** The claims of a JWT, or {} when it cannot be read (the API checks it; this only displays). */
export function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

/** Who is signed in: { username, admin }. */
export function user(session) {
  const c = claims(session?.access_token ?? '');
  const groups = Array.isArray(c['cognito:groups']) ? c['cognito:groups'] : [];
  return { username: String(c.username ?? c.sub ?? ''), admin: groups.includes('admins') };
}
