import { useState } from 'preact/hooks';
import { query } from '../api.js';
import { useLive } from '../live.js';
import { go, href } from '../route.js';
import { Loading, Problem, StateBadge } from '../components.jsx';

/** Every tenant that holds or held an account, with its accounts' states. */
export function Tenants() {
  const live = useLive(`/accounts${query({ limit: 100 })}`);
  const [name, setName] = useState('');
  const tenants = new Map();
  for (const account of live.data?.items ?? []) {
    if (!account.tenant) continue;
    const list = tenants.get(account.tenant) ?? [];
    list.push(account);
    tenants.set(account.tenant, list);
  }
  const names = [...tenants.keys()].sort();
  return (
    <section>
      <h1>Tenants</h1>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) go('/sandboxes', { tenant: name.trim() });
        }}
      >
        <label for="open-tenant">Open a tenant</label>
        <input id="open-tenant" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="acme" />
        <button type="submit">Open</button>
      </form>
      <Problem error={live.error} context="the tenants" retrying />
      {live.loading && !live.data && <Loading what="tenants" />}
      {live.data && names.length === 0 && <p class="muted">No tenant holds an account now.</p>}
      {names.length > 0 && (
        <table class="list" aria-label="Tenants">
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">Accounts</th>
            </tr>
          </thead>
          <tbody>
            {names.map((t) => (
              <tr key={t} data-tenant={t}>
                <td>
                  <a href={href('/sandboxes', { tenant: t })}>{t}</a>
                </td>
                <td>
                  {tenants.get(t).map((a) => (
                    <span class="account-chip">
                      <a href={href(`/accounts/${a.account_id}`)}>{a.account_id}</a> <StateBadge state={a.state} />
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
