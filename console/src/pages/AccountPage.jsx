import { useState } from 'preact/hooks';
import { request, enc, ApiError } from '../api.js';
import { useLive, useTrail } from '../live.js';
import { href } from '../route.js';
import { Loading, Problem, StateBadge, Time } from '../components.jsx';

export function AccountPage({ id }) {
  const live = useLive(`/accounts/${enc(id)}`);
  const account = live.data;
  const trail = useTrail(account ? `/accounts/${enc(id)}/events` : null, account?.version);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(null);

  async function clean() {
    setBusy(true);
    setOutcome(null);
    try {
      await request('POST', `/accounts/${enc(id)}/clean`);
      live.reload();
    } catch (err) {
      setOutcome(err instanceof ApiError ? err : new ApiError(0));
    } finally {
      setBusy(false);
    }
  }

  if (!account) {
    return (
      <section>
        <h1>Account {id}</h1>
        {live.error?.status === 404 ? <p role="alert">There is no account {id}.</p> : <Problem error={live.error} context="this page" retrying />}
        {live.loading && <Loading what="the account" />}
      </section>
    );
  }
  const quarantined = account.state === 'quarantined';
  return (
    <section data-account={account.account_id} data-state={account.state}>
      <p>
        <a href={href('/accounts')}>← Account pool</a>
      </p>
      <h1>
        Account {account.account_id} <StateBadge state={account.state} />
      </h1>
      <Problem error={live.error} context="this page" retrying />
      {account.reason && (
        <section class={quarantined ? 'failure' : 'notice'} aria-labelledby="reason-heading">
          <h2 id="reason-heading">{quarantined ? 'Why it is quarantined' : 'Last cleaning problem'}</h2>
          <p data-testid="reason">{account.reason}</p>
        </section>
      )}
      <div class="action">
        <button type="button" disabled={!quarantined || busy} aria-describedby={quarantined ? undefined : 'why-not-clean'} onClick={clean}>
          Clean again
        </button>
        {!quarantined && (
          <p id="why-not-clean" class="why-not">
            The account is {account.state}; only a quarantined account can be sent back to cleaning.
          </p>
        )}
      </div>
      <Problem error={outcome} context="the action" />
      <h2>Record</h2>
      <dl class="fields">
        <dt>Tenant</dt>
        <dd>{account.tenant ?? '—'}</dd>
        <dt>Changed</dt>
        <dd>
          <Time at={account.updated_at} />
        </dd>
        <dt>Expired</dt>
        <dd>
          <Time at={account.expired_at} />
        </dd>
        <dt>Cleaned</dt>
        <dd>
          <Time at={account.cleaned_at} />
        </dd>
        <dt>Failed cleanings</dt>
        <dd>{account.attempts ?? 0}</dd>
        <dt>Version</dt>
        <dd>{account.version}</dd>
      </dl>
      <h2>Trail</h2>
      <Problem error={trail.error} context="the trail" retrying />
      <table class="list" aria-label="Account trail">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">When</th>
            <th scope="col">Change</th>
            <th scope="col">State</th>
            <th scope="col">Tenant</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {trail.items.map((e) => (
            <tr key={e.seq} data-seq={e.seq}>
              <td>{e.seq}</td>
              <td>
                <Time at={e.at} />
              </td>
              <td>{e.change}</td>
              <td>
                {e.from ?? '(new)'} → {e.to}
              </td>
              <td>{e.tenant ?? ''}</td>
              <td>{e.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
