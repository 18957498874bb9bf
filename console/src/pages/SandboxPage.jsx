import { useEffect, useState } from 'preact/hooks';
import { request, query, enc, ApiError } from '../api.js';
import { useLive, useNow, useTrail } from '../live.js';
import { href } from '../route.js';
import { CostText, Loading, Problem, SafeLink, StateBadge, Time, duration } from '../components.jsx';

/**
 * The workflow steps seen so far of the running operation: the current one and those before
 * it, as `sbx create --wait` shows them. Starts again when another operation begins.
 */
function useSteps(progress) {
  const [steps, setSteps] = useState({ key: null, current: null, done: [] });
  useEffect(() => {
    if (!progress) return;
    const key = `${progress.operation}@${progress.started_at}`;
    setSteps((s) => {
      const base = s.key === key ? s : { key, current: null, done: [] };
      const step = progress.step ?? null;
      if (!step || base.current === step) return base;
      return { key, current: step, done: base.current ? base.done.concat([base.current]) : base.done };
    });
  }, [progress?.operation, progress?.started_at, progress?.step]);
  return steps.key && progress && steps.key === `${progress.operation}@${progress.started_at}` ? steps : null;
}

function Operation({ progress }) {
  const now = useNow();
  const steps = useSteps(progress);
  if (!progress) return null;
  const elapsed = now - new Date(progress.started_at).getTime();
  return (
    <section class="operation" aria-labelledby="operation-heading">
      <h2 id="operation-heading">Running: {progress.operation}</h2>
      <p>
        <span class="spinner" aria-hidden="true" /> Current step: <strong data-testid="current-step">{steps?.current ?? 'starting'}</strong>
        {' · '}
        <span data-testid="elapsed">{duration(elapsed)} elapsed</span>
      </p>
      <p data-testid="steps-done">
        {steps?.done.length ? `${steps.done.length} steps done: ${steps.done.join(', ')}` : 'No step finished yet.'}
      </p>
    </section>
  );
}

function Endpoints({ endpoints }) {
  if (!endpoints) return <p class="muted">No endpoints: they are there while the sandbox is started.</p>;
  return (
    <dl class="fields">
      <dt>Web</dt>
      <dd>
        <SafeLink url={endpoints.web} />
      </dd>
      <dt>REST</dt>
      <dd>
        <SafeLink url={endpoints.rest} />
      </dd>
      {endpoints.amq && (
        <>
          <dt>AMQ</dt>
          <dd>
            <code>
              {endpoints.amq.host}:{endpoints.amq.port}
            </code>
          </dd>
        </>
      )}
      {endpoints.streaming_stack && (
        <>
          <dt>Streaming stack</dt>
          <dd>
            <code>{endpoints.streaming_stack}</code>
          </dd>
        </>
      )}
    </dl>
  );
}

function ActionButton({ name, label, action, busy, onClick }) {
  const reason = action && !action.allowed ? action.reason : null;
  const id = `why-not-${name}`;
  return (
    <div class="action">
      <button type="button" disabled={!action?.allowed || busy} aria-describedby={reason ? id : undefined} onClick={onClick}>
        {label}
      </button>
      {reason && (
        <p id={id} class="why-not">
          {reason}
        </p>
      )}
    </div>
  );
}

/** A schedule in words: "stops 19:00 mon, fri (Europe/London); idle stop after 120 min". */
export function describeSchedule(schedule) {
  if (!schedule) return 'none';
  const when = (r) => `${r.at} ${r.days?.length ? r.days.join(', ') : 'daily'} (${r.time_zone})`;
  const parts = [];
  if (schedule.autostop) parts.push(`stops ${when(schedule.autostop)}`);
  if (schedule.autostart) parts.push(`starts ${when(schedule.autostart)}`);
  if (schedule.idle_minutes) parts.push(`idle stop after ${schedule.idle_minutes} min`);
  return parts.join('; ') || 'none';
}

export function SandboxPage({ user, id, tenant }) {
  const t = user.admin ? tenant : '';
  const path = `/sandboxes/${enc(id)}${query({ tenant: t })}`;
  const live = useLive(path);
  const sandbox = live.data;
  const trail = useTrail(sandbox ? `/sandboxes/${enc(id)}/events${query({ tenant: t })}` : null, sandbox?.version);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const [confirming, setConfirming] = useState(false);
  const [hours, setHours] = useState('24');

  async function act(method, suffix, body) {
    setBusy(true);
    setOutcome(null);
    try {
      await request(method, `/sandboxes/${enc(id)}${suffix}${query({ tenant: t })}`, { body });
      live.reload();
    } catch (err) {
      setOutcome(err instanceof ApiError ? err : new ApiError(0));
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  }

  function extend() {
    const n = Number(hours);
    if (!Number.isInteger(n) || n < 1) {
      setOutcome(new ApiError(400, { detail: 'hours: a whole number of hours, 1 or more' }));
      return;
    }
    const at = new Date(new Date(sandbox.expires_at).getTime() + n * 3600_000).toISOString();
    act('PATCH', '', { expires_at: at });
  }

  if (!sandbox) {
    return (
      <section>
        <h1>Sandbox {id}</h1>
        {live.error?.status === 404 ? <p role="alert">There is no sandbox {id}{t ? ` in tenant ${t}` : ''}.</p> : <Problem error={live.error} context="this page" retrying />}
        {live.loading && <Loading what="the sandbox" />}
        <p>
          <a href={href('/sandboxes', { tenant: t })}>Back to the sandboxes</a>
        </p>
      </section>
    );
  }
  const actions = sandbox.actions ?? {};
  return (
    <section data-sandbox={sandbox.id} data-state={sandbox.state}>
      <p>
        <a href={href('/sandboxes', { tenant: t })}>← Sandboxes</a>
      </p>
      <h1>
        {sandbox.name} <StateBadge state={sandbox.state} />
      </h1>
      <Problem error={live.error} context="this page" retrying />
      <Operation progress={sandbox.progress} />
      {sandbox.failure && (
        <section class="failure" aria-labelledby="failure-heading">
          <h2 id="failure-heading">The {sandbox.failure.operation} failed</h2>
          <dl class="fields">
            <dt>Error</dt>
            <dd>
              <code data-testid="failure-error">{sandbox.failure.error}</code>
            </dd>
            <dt>Cause</dt>
            <dd data-testid="failure-cause">{sandbox.failure.cause}</dd>
            <dt>When</dt>
            <dd>
              <Time at={sandbox.failure.at} />
            </dd>
          </dl>
        </section>
      )}
      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        <div class="actions-row">
          <ActionButton name="start" label="Start" action={actions.start} busy={busy} onClick={() => act('POST', '/start')} />
          <ActionButton name="stop" label="Stop" action={actions.stop} busy={busy} onClick={() => act('POST', '/stop')} />
          <ActionButton name="delete" label="Delete" action={actions.delete} busy={busy} onClick={() => setConfirming(true)} />
        </div>
        {confirming && (
          <div class="confirm" role="group" aria-label="Confirm delete">
            <p>
              Delete <strong>{sandbox.name}</strong>? Its machines and network are removed; this cannot be undone.
            </p>
            <button type="button" class="danger" disabled={busy} onClick={() => act('DELETE', '')}>
              Delete for good
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </div>
        )}
        <form
          class="inline extend"
          onSubmit={(e) => {
            e.preventDefault();
            extend();
          }}
        >
          <label for="extend-hours">Extend by (hours)</label>
          <input id="extend-hours" inputMode="numeric" value={hours} onInput={(e) => setHours(e.currentTarget.value)} />
          <button type="submit" disabled={!actions.extend?.allowed || busy} aria-describedby={actions.extend?.allowed ? undefined : 'why-not-extend'}>
            Extend
          </button>
          {actions.extend && !actions.extend.allowed && (
            <p id="why-not-extend" class="why-not">
              {actions.extend.reason}
            </p>
          )}
        </form>
        <Problem error={outcome} context="the action" />
      </section>
      <section aria-labelledby="record-heading">
        <h2 id="record-heading">Record</h2>
        <dl class="fields">
          <dt>Id</dt>
          <dd>
            <code>{sandbox.id}</code>
          </dd>
          <dt>Tenant</dt>
          <dd>{sandbox.tenant}</dd>
          <dt>Account</dt>
          <dd>{sandbox.account_id ?? '—'}</dd>
          <dt>Instance size</dt>
          <dd>{sandbox.options?.instance_size}</dd>
          <dt>Options</dt>
          <dd>
            {[sandbox.options?.amq && 'AMQ', sandbox.options?.smart_client && 'Smart Client'].filter(Boolean).join(', ') || 'none'}
          </dd>
          <dt>Constellations</dt>
          <dd>{sandbox.options?.constellations?.length ? sandbox.options.constellations.join(', ') : 'none'}</dd>
          <dt>Created</dt>
          <dd>
            <Time at={sandbox.created_at} />
          </dd>
          <dt>Changed</dt>
          <dd>
            <Time at={sandbox.updated_at} />
          </dd>
          <dt>Expires</dt>
          <dd data-testid="expires-at" data-at={sandbox.expires_at}>
            <Time at={sandbox.expires_at} />
          </dd>
          <dt>Schedule</dt>
          <dd data-testid="schedule">{describeSchedule(sandbox.schedule)}</dd>
          <dt>Cost</dt>
          <dd data-testid="cost" title={sandbox.cost ? `estimated as of ${sandbox.cost.as_of}, from the pinned price table` : ''}>
            <CostText cost={sandbox.cost} />
          </dd>
          <dt>Version</dt>
          <dd>{sandbox.version}</dd>
        </dl>
      </section>
      <section aria-labelledby="endpoints-heading">
        <h2 id="endpoints-heading">Endpoints</h2>
        <Endpoints endpoints={sandbox.endpoints} />
      </section>
      <section aria-labelledby="trail-heading">
        <h2 id="trail-heading">Audit trail</h2>
        <Problem error={trail.error} context="the trail" retrying />
        <table class="list" aria-label="Audit trail">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Operation</th>
              <th scope="col">Change</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {trail.items.map((e) => (
              <tr key={e.seq} data-seq={e.seq}>
                <td>{e.seq}</td>
                <td>
                  <Time at={e.at} />
                </td>
                <td>
                  {e.operation}
                  {e.actor ? ` (by ${e.actor})` : ''}
                </td>
                <td>
                  {e.from ?? '(new)'} → {e.to}
                </td>
                <td>{e.error ? `${e.error}: ${e.cause ?? ''}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </section>
  );
}
