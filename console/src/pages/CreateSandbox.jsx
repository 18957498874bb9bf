import { useState } from 'preact/hooks';
import { request, query, enc, ApiError } from '../api.js';
import { go, href } from '../route.js';
import { Problem } from '../components.jsx';

/** A new Idempotency-Key: a second click on Create while the first is on its way makes one sandbox. */
const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

export function CreateSandbox({ user, tenant }) {
  const [form, setForm] = useState({
    tenant,
    name: '',
    instance_size: 'medium',
    amq: false,
    smart_client: false,
    constellations: '',
    ttl_hours: '8',
  });
  const [key, setKey] = useState(newKey);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (field) => (e) =>
    setForm({ ...form, [field]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value });

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    // The API checks everything; its messages are shown as they are.
    const hours = form.ttl_hours.trim();
    const body = {
      name: form.name,
      instance_size: form.instance_size,
      amq: form.amq,
      smart_client: form.smart_client,
      constellations: form.constellations.split(/[\s,]+/).filter(Boolean),
    };
    if (hours !== '') body.ttl_hours = /^\d+$/.test(hours) ? Number(hours) : hours;
    const target = user.admin ? form.tenant.trim() : '';
    try {
      const { data } = await request('POST', `/sandboxes${query({ tenant: target })}`, {
        body,
        headers: { 'idempotency-key': key },
      });
      setKey(newKey());
      go(`/sandboxes/${enc(data.id)}`, { tenant: user.admin ? data.tenant : '' });
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0));
      // A refused request may be corrected and sent again as a new one.
      if (!(err instanceof ApiError && err.unavailable)) setKey(newKey());
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h1>New sandbox</h1>
      <form class="create" onSubmit={submit} noValidate>
        {user.admin && (
          <>
            <label for="create-tenant">Tenant</label>
            <input id="create-tenant" value={form.tenant} onInput={set('tenant')} aria-describedby="create-tenant-help" />
            <p id="create-tenant-help" class="help">
              Admins create sandboxes for a tenant.
            </p>
          </>
        )}
        <label for="name">Name</label>
        <input id="name" value={form.name} onInput={set('name')} aria-describedby="name-help" />
        <p id="name-help" class="help">
          What your team calls it, up to 100 characters.
        </p>
        <label for="instance-size">Instance size</label>
        <select id="instance-size" value={form.instance_size} onChange={set('instance_size')}>
          <option value="small">small</option>
          <option value="medium">medium</option>
          <option value="large">large</option>
        </select>
        <fieldset>
          <legend>Options</legend>
          <label class="check">
            <input type="checkbox" checked={form.amq} onChange={set('amq')} /> AMQ (layer-4 ingress)
          </label>
          <label class="check">
            <input type="checkbox" checked={form.smart_client} onChange={set('smart_client')} /> Smart Client (desktop streaming)
          </label>
        </fieldset>
        <label for="constellations">Constellations</label>
        <input id="constellations" value={form.constellations} onInput={set('constellations')} aria-describedby="constellations-help" />
        <p id="constellations-help" class="help">
          Packages to install, separated by commas or spaces (for example: payments, cards).
        </p>
        <label for="ttl-hours">Lifetime (hours)</label>
        <input id="ttl-hours" inputMode="numeric" value={form.ttl_hours} onInput={set('ttl_hours')} aria-describedby="ttl-help" />
        <p id="ttl-help" class="help">
          From 1 to 720; it can be extended later.
        </p>
        <Problem error={error} context="creating" />
        <div class="actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create'}
          </button>
          <a href={href('/sandboxes', { tenant: form.tenant })}>Cancel</a>
        </div>
      </form>
    </section>
  );
}
