// api.js: the signed-in token and calls to the Kubernetes API of the
// server this page came from (same origin).

const KEY = 'skiff.token';

export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// APIError carries the HTTP status and the API's Status message.
export class APIError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// describe turns an answer that is not 2xx into an APIError.
async function failure(resp) {
  const text = await resp.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* plain text */ }
  const msg = (body && body.message) || text.trim() || resp.statusText;
  return new APIError(resp.status, `${resp.status} ${msg}`, body);
}

// call sends one request with the bearer token; body is JSON-encoded.
export async function call(path, { method = 'GET', body, contentType, bearer } = {}) {
  const headers = { Authorization: `Bearer ${bearer ?? token.get()}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await failure(resp);
  const ct = resp.headers.get('Content-Type') || '';
  return ct.includes('json') ? resp.json() : resp.text();
}

// checkToken resolves when the API accepts t, else rejects with a message
// for the sign-in form.
export async function checkToken(t) {
  try {
    await call('/api/v1/namespaces?limit=1', { bearer: t });
  } catch (e) {
    if (e.status === 401) throw new Error('Wrong token: the API server refused it (401 Unauthorized).');
    if (e.status === 403) throw new Error('This token may not list namespaces (403 Forbidden).');
    throw new Error(`Could not check the token: ${e.message}`);
  }
}

export const patchTypes = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};
