// Small pieces every page uses. Values from the API are rendered as text (Preact escapes
// them); a URL from the API becomes a link only if it is http(s).

export function Time({ at }) {
  if (!at) return <span>—</span>;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return <span>{String(at)}</span>;
  return <time dateTime={at} title={at}>{date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}</time>;
}

export function StateBadge({ state }) {
  return <span class={`state state-${String(state).replace(/[^a-z]/g, '')}`} data-state={state}>{state}</span>;
}

/** A link to `url` if it is an http(s) URL; otherwise the text itself. */
export function SafeLink({ url, children }) {
  let safe = null;
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') safe = parsed.href;
  } catch {
    safe = null;
  }
  if (!safe) return <span>{String(url)}</span>;
  return (
    <a href={safe} target="_blank" rel="noopener noreferrer">
      {children ?? safe}
    </a>
  );
}

/** What went wrong, as the API said it (a problem's detail), for a person. */
export function Problem({ error, context, retrying = false }) {
  if (!error) return null;
  if (error.unavailable) {
    const when = error.retryAfter ? ` in ${error.retryAfter} s` : ' shortly';
    return (
      <p class="notice unavailable" role="status">
        The sbx API is unavailable right now{error.status ? ` (${error.status})` : ''};{' '}
        {retrying ? `${context ?? 'this page'} will try again${when}.` : `try again${when}.`}
      </p>
    );
  }
  return (
    <p class="notice problem" role="alert">
      {error.message}
    </p>
  );
}

export function Loading({ what }) {
  return <p class="muted" role="status">Loading {what}…</p>;
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** Dollars as people read them: two decimals, or four under a dollar an hour. */
export function usd(amount, digits = 2) {
  return typeof amount === 'number' ? `$${amount.toFixed(digits)}` : '—';
}

/** What a sandbox has cost and costs now, from its record's `cost`. */
export function CostText({ cost }) {
  if (!cost) return <span class="muted">—</span>;
  // The spend sweep has not looked at it yet (it does every minute).
  if (cost.as_of === cost.since) return <span class="muted">not metered yet</span>;
  return (
    <span>
      {usd(cost.estimated_usd)} <span class="muted">({usd(cost.rate_usd_per_hour, 3)}/h now)</span>
    </span>
  );
}
