// The sbx web console: a client of the same HTTP API as the command line.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import * as session from './session.js';
import { useRoute, href, go } from './route.js';
import { SignIn } from './pages/SignIn.jsx';
import { SandboxList } from './pages/SandboxList.jsx';
import { CreateSandbox } from './pages/CreateSandbox.jsx';
import { SandboxPage } from './pages/SandboxPage.jsx';
import { AccountList } from './pages/AccountList.jsx';
import { AccountPage } from './pages/AccountPage.jsx';
import { Tenants } from './pages/Tenants.jsx';

function page(route, user) {
  const { path, params } = route;
  const tenant = params.get('tenant') || '';
  if (path === '/' || path === '/sandboxes') {
    return <SandboxList user={user} tenant={tenant} state={params.get('state') || ''} />;
  }
  if (path === '/sandboxes/new') return <CreateSandbox user={user} tenant={tenant} />;
  const sandbox = path.match(/^\/sandboxes\/([^/]+)$/);
  if (sandbox) return <SandboxPage user={user} id={decodeURIComponent(sandbox[1])} tenant={tenant} />;
  if (user.admin && path === '/accounts') return <AccountList state={params.get('state') || ''} />;
  const account = path.match(/^\/accounts\/([^/]+)$/);
  if (user.admin && account) return <AccountPage id={decodeURIComponent(account[1])} />;
  if (user.admin && path === '/tenants') return <Tenants />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href={href('/sandboxes')}>Go to the sandboxes</a>.
      </p>
    </section>
  );
}

function App() {
  const [current, setCurrent] = useState(session.load());
  const [notice, setNotice] = useState('');
  const route = useRoute();

  useEffect(() => {
    api.onSignedOut((message) => {
      setNotice(message);
      setCurrent(null);
    });
  }, []);

  if (!current) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          setNotice('');
          setCurrent(s);
        }}
      />
    );
  }
  const user = session.user(current);
  const signOut = () => {
    session.clear();
    setNotice('You signed out.');
    setCurrent(null);
    go('/sandboxes');
  };
  const at = (prefix) => (route.path === prefix || route.path.startsWith(`${prefix}/`) ? 'page' : undefined);
  return (
    <>
      <header class="top">
        <a class="brand" href={href('/sandboxes')}>
          sbx
        </a>
        <nav aria-label="Main">
          <ul>
            <li>
              <a href={href('/sandboxes')} aria-current={route.path === '/' || (at('/sandboxes') && route.path !== '/sandboxes/new') ? 'page' : undefined}>
                Sandboxes
              </a>
            </li>
            <li>
              <a href={href('/sandboxes/new')} aria-current={route.path === '/sandboxes/new' ? 'page' : undefined}>
                New sandbox
              </a>
            </li>
            {user.admin && (
              <>
                <li>
                  <a href={href('/tenants')} aria-current={at('/tenants')}>
                    Tenants
                  </a>
                </li>
                <li>
                  <a href={href('/accounts')} aria-current={at('/accounts')}>
                    Accounts
                  </a>
                </li>
              </>
            )}
          </ul>
        </nav>
        <div class="who">
          <span data-testid="user">
            {user.username}
            {user.admin ? ' (admin)' : ''}
          </span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{page(route, user)}</main>
    </>
  );
}

render(<App />, document.getElementById('app'));
