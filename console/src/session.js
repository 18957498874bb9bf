// The signed-in user's tokens, kept in this tab's session storage (never in a URL, never in
// local storage): they end with the tab. What the console shows about the user (name, admin)
// comes from the access token's claims; the API decides what the user may do.

const KEY = 'sbx.session';

export function load() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    return session && typeof session.access_token === 'string' ? session : null;
  } catch {
    return null;
  }
}

export function save(tokens, previous = null) {
  const session = {
    access_token: tokens.access_token,
    // A refresh answer carries no new refresh token: the first one goes on.
    refresh_token: tokens.refresh_token ?? previous?.refresh_token ?? null,
    expires_at: Date.now() + Number(tokens.expires_in ?? 3600) * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clear() {
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
