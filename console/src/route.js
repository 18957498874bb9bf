// Where the console is: the part of the URL after '#', as a path and its query
// (`#/sandboxes/sb-1?tenant=acme`). Hash routes need no rewrite rule on S3 or CloudFront.

import { useEffect, useState } from 'preact/hooks';

export function parse(hash = location.hash) {
  const text = hash.replace(/^#/, '') || '/';
  const [path, search = ''] = text.split('?');
  return { path: path || '/', params: new URLSearchParams(search) };
}

export function useRoute() {
  const [route, setRoute] = useState(parse());
  useEffect(() => {
    const changed = () => setRoute(parse());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function href(path, params = {}) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) search.set(k, v);
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

export function go(path, params) {
  location.hash = href(path, params);
}
