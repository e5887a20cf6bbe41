// api.js: the debugger's HTTP API (see the contract in internal/debugger).
// Paths are relative ("api/…") so the UI also works behind a path prefix.

const params = new URLSearchParams(location.search);

// token is the access token the page was opened with (?token=…). It is sent on
// every request as a bearer token and on the EventSource URL, which cannot
// carry headers.
export const token = params.get('token') || '';

/** ApiError is a non-2xx answer; status 401/403 means the token is missing or wrong. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, query) {
  const url = new URL(path, document.baseURI);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
    }
  }
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(url, { method, headers, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, 'bridge unreachable: ' + err.message);
  }
  let body = null;
  const text = await res.text();
  if (text) {
    try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 300) }; }
  }
  if (!res.ok) {
    throw new ApiError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  }
  return body;
}

export const api = {
  events: (filters, limit = 500) => request('GET', 'api/events', { ...filters, limit }),
  event: (id) => request('GET', 'api/events/' + encodeURIComponent(id)),
  delivery: (window) => request('GET', 'api/delivery', { window }),
  config: () => request('GET', 'api/config'),
  samples: (name, type, reason) => request('GET', 'api/delivery/' + [name, 'reasons', type, reason].map(encodeURIComponent).join('/')),
  redrive: (name) => request('POST', 'api/destinations/' + encodeURIComponent(name) + '/redrive'),
};

/** streamURL is the SSE endpoint, with the token as a query parameter. */
export function streamURL() {
  const url = new URL('api/stream', document.baseURI);
  if (token) url.searchParams.set('token', token);
  return url.toString();
}
