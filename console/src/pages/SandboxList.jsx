import { useEffect, useState } from 'preact/hooks';
import { query, enc } from '../api.js';
import { useLive } from '../live.js';
import { href, go } from '../route.js';
import { CostText, Loading, Problem, SafeLink, StateBadge, Time, usd } from '../components.jsx';

export const STATES = ['initializing', 'started', 'stopping', 'stopped', 'starting', 'deleting', 'deleted', 'failed'];
const PAGE = 20;

export function SandboxList({ user, tenant, state }) {
  // The tokens of the pages before this one, for "Previous".
  const [pages, setPages] = useState([]);
  const [token, setToken] = useState('');
  const [tenantInput, setTenantInput] = useState(tenant);
  // Another tenant or state starts from its first page.
  useEffect(() => {
    setPages([]);
    setToken('');
    setTenantInput(tenant);
  }, [tenant, state]);
  const needsTenant = user.admin && !tenant;
  const path = needsTenant ? null : `/sandboxes${query({ tenant, state, limit: PAGE, next_token: token })}`;
  const live = useLive(path);

  const filter = (next) => {
    setPages([]);
    setToken('');
    go('/sandboxes', { tenant, state: next });
  };
  const items = live.data?.items ?? [];
  // The month against the budget: the tenant named (admins), else the caller's own.
  const budgetTenant = tenant || items[0]?.tenant || '';
  const budget = useLive(budgetTenant ? `/tenants/${enc(budgetTenant)}/budget` : null);
  return (
    <section>
      <h1>Sandboxes{tenant ? ` of ${tenant}` : ''}</h1>
      <div class="toolbar">
        {user.admin && (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              setPages([]);
              setToken('');
              go('/sandboxes', { tenant: tenantInput.trim(), state });
            }}
          >
            <label for="tenant">Tenant</label>
            <input id="tenant" value={tenantInput} onInput={(e) => setTenantInput(e.currentTarget.value)} placeholder="acme" />
            <button type="submit">Show</button>
          </form>
        )}
        <label for="state-filter">State</label>
        <select id="state-filter" value={state} onChange={(e) => filter(e.currentTarget.value)}>
          <option value="">all states</option>
          {STATES.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
        <a class="button" href={href('/sandboxes/new', { tenant })}>
          New sandbox
        </a>
      </div>
      {needsTenant && (
        <p>
          Admins act for one tenant at a time: name one above, or pick one on the <a href={href('/tenants')}>tenants page</a>.
        </p>
      )}
      {budget.data && <MonthSpend view={budget.data} />}
      <Problem error={live.error} context="the list" retrying />
      {live.loading && !live.data && path && <Loading what="sandboxes" />}
      {live.data && items.length === 0 && <p class="muted">No sandboxes{state ? ` in state ${state}` : ''}.</p>}
      {items.length > 0 && (
        <table class="list" aria-label="Sandboxes">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">State</th>
              <th scope="col">Expires</th>
              <th scope="col">Cost</th>
              <th scope="col">Endpoints</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-sandbox={s.id}>
                <td>
                  <a href={href(`/sandboxes/${enc(s.id)}`, { tenant: user.admin ? s.tenant : '' })}>{s.name}</a>
                </td>
                <td>
                  <code>{s.id}</code>
                </td>
                <td>
                  <StateBadge state={s.state} />
                </td>
                <td>
                  <Time at={s.expires_at} />
                </td>
                <td data-cost={s.cost?.estimated_usd ?? ''}>
                  <CostText cost={s.cost} />
                </td>
                <td>{s.endpoints?.web ? <SafeLink url={s.endpoints.web}>web</SafeLink> : <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          disabled={pages.length === 0}
          onClick={() => {
            const before = pages.slice(0, -1);
            setToken(pages[pages.length - 1] ?? '');
            setPages(before);
          }}
        >
          Previous page
        </button>
        <button
          type="button"
          disabled={!live.data?.next_token}
          onClick={() => {
            setPages(pages.concat([token]));
            setToken(live.data.next_token);
          }}
        >
          Next page
        </button>
      </nav>
    </section>
  );
}

/** This month's spend, against the budget when there is one. */
function MonthSpend({ view }) {
  const limit = view.budget?.monthly_usd;
  const percent = limit ? Math.round((view.spent_usd * 100) / limit) : null;
  return (
    <p class="spend" data-testid="month-spend">
      {view.month}: <strong>{usd(view.spent_usd)}</strong>
      {limit ? ` of a ${usd(limit)} budget (${percent}%)` : ', no budget set'}; forecast {usd(view.forecast_usd)}
      {view.warned?.length ? ` · thresholds reached: ${view.warned.map((p) => `${p}%`).join(', ')}` : ''}
      <span class="muted"> · prices {view.prices.region}, {view.prices.as_of}</span>
    </p>
  );
}
