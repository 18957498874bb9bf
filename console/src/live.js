// Live pages by polling with conditional requests: each poll sends the ETag of the answer the
// page has, and the API answers 304 (no body) while nothing changed. The API is Lambda behind
// API Gateway's HTTP API and CloudFront, which stream no answers; a WebSocket API would need a
// connection table and fan-out for what a 2 s poll of a few hundred bytes does. Polls stop
// while the tab is hidden, and back off while the API is unavailable.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { request } from './api.js';

export const POLL_MS = 2000;
const MAX_BACKOFF_MS = 15000;

/** `GET path`, kept current: { data, error, loading, reload }. `path` null: nothing. */
export function useLive(path, { interval = POLL_MS } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const poke = useRef(() => {});

  useEffect(() => {
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    let stopped = false;
    let timer = null;
    let etag = null;
    let failures = 0;
    setState({ data: null, error: null, loading: true });

    async function tick() {
      timer = null;
      if (stopped) return;
      if (document.hidden) {
        schedule(interval);
        return;
      }
      try {
        const answer = await request('GET', path, { etag });
        if (stopped) return;
        failures = 0;
        if (answer.status !== 304) {
          etag = answer.etag;
          setState({ data: answer.data, error: null, loading: false });
        } else {
          setState((s) => (s.error ? { ...s, error: null } : s));
        }
        schedule(interval);
      } catch (error) {
        if (stopped) return;
        failures += 1;
        setState((s) => ({ ...s, error, loading: false }));
        if (error.status === 401) return;
        const wait = error.retryAfter
          ? error.retryAfter * 1000
          : Math.min(MAX_BACKOFF_MS, interval * 2 ** Math.min(failures, 4));
        schedule(error.unavailable ? wait : interval * 2);
      }
    }
    function schedule(ms) {
      if (!stopped) timer = setTimeout(tick, ms);
    }
    poke.current = () => {
      if (timer) clearTimeout(timer);
      tick();
    };
    const visible = () => {
      if (!document.hidden && timer) poke.current();
    };
    document.addEventListener('visibilitychange', visible);
    tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener('visibilitychange', visible);
    };
  }, [path, interval]);

  const reload = useCallback(() => poke.current(), []);
  return { ...state, reload };
}

/**
 * An audit trail read incrementally: `GET base?after=<last seq>` each time `version` changes,
 * appending what is new. The whole history is read once, when the page opens.
 */
export function useTrail(base, version) {
  const [trail, setTrail] = useState({ items: [], error: null });
  const [again, setAgain] = useState(0);
  const last = useRef(0);
  const busy = useRef(false);

  useEffect(() => {
    last.current = 0;
    setTrail({ items: [], error: null });
  }, [base]);

  useEffect(() => {
    if (!base || version === undefined || version === null) return;
    if (last.current >= version || busy.current) return;
    busy.current = true;
    const separator = base.includes('?') ? '&' : '?';
    request('GET', `${base}${separator}after=${last.current}`)
      .then(({ data }) => {
        const items = data?.items ?? [];
        const fresh = items.filter((e) => e.seq > last.current);
        if (fresh.length) last.current = fresh[fresh.length - 1].seq;
        setTrail((t) => ({ items: t.items.concat(fresh), error: null }));
        busy.current = false;
        // The record may have moved on while this read was under way.
        setAgain((n) => n + 1);
      })
      .catch((error) => {
        busy.current = false;
        setTrail((t) => ({ ...t, error }));
        if (error.status !== 401) setTimeout(() => setAgain((n) => n + 1), POLL_MS * 2);
      });
  }, [base, version, again]);

  return trail;
}

/** The current time, ticking every second (for elapsed times). */
export function useNow(every = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), every);
    return () => clearInterval(id);
  }, [every]);
  return now;
}
