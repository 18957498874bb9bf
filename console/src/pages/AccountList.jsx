import { query, enc } from '../api.js';
import { useLive } from '../live.js';
import { href } from '../route.js';
import { Loading, Problem, StateBadge, Time } from '../components.jsx';

export const ACCOUNT_STATES = ['pool', 'assigned', 'expired', 'cleaning', 'quarantined'];

export function AccountList({ state }) {
  // All states in one read (the pool is small: at most 100 accounts a state), counted here.
  const live = useLive(`/accounts${query({ limit: 100 })}`);
  const all = live.data?.items ?? [];
  const counts = Object.fromEntries(ACCOUNT_STATES.map((s) => [s, all.filter((a) => a.state === s).length]));
  const items = state ? all.filter((a) => a.state === state) : all;
  return (
    <section>
      <h1>Account pool</h1>
      <nav aria-label="Account states" class="tabs">
        <ul>
          <li>
            <a href={href('/accounts')} aria-current={!state ? 'page' : undefined}>
              all ({all.length})
            </a>
          </li>
          {ACCOUNT_STATES.map((s) => (
            <li>
              <a href={href('/accounts', { state: s })} aria-current={state === s ? 'page' : undefined} data-count={counts[s]}>
                {s} ({counts[s]})
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <Problem error={live.error} context="the pool" retrying />
      {live.loading && !live.data && <Loading what="accounts" />}
      {live.data && items.length === 0 && <p class="muted">No {state || ''} accounts.</p>}
      {items.length > 0 && (
        <table class="list" aria-label="Accounts">
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">State</th>
              <th scope="col">Tenant</th>
              <th scope="col">Changed</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {items.map((a) => (
              <tr key={a.account_id} data-account={a.account_id}>
                <td>
                  <a href={href(`/accounts/${enc(a.account_id)}`)}>{a.account_id}</a>
                </td>
                <td>
                  <StateBadge state={a.state} />
                </td>
                <td>
                  {a.tenant ? (
                    <a href={href('/sandboxes', { tenant: a.tenant })}>
                      {a.tenant}
                    </a>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  <Time at={a.updated_at} />
                </td>
                <td class="reason">{a.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
