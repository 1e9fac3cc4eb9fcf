//! `GET /api/docs`: a page that renders `/openapi.json`. Everything it needs is in this
//! response (no CDN: users may be offline).

use axum::response::{Html, IntoResponse, Response};

pub async fn page() -> Response {
    Html(PAGE).into_response()
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Waymark API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 2rem; text-transform: capitalize; }
details { border: 1px solid #8884; border-radius: 6px; margin: .4rem 0; padding: .3rem .6rem; }
summary { cursor: pointer; } code { font-family: ui-monospace, monospace; }
.verb { font-weight: 600; color: #0a7d38; margin-right: .5rem; }
pre { background: #8881; padding: .6rem; overflow: auto; border-radius: 4px; font-size: .85rem; }
</style></head><body>
<h1>Waymark API</h1>
<p id="intro">Loading <code>/openapi.json</code>…</p>
<div id="ops"></div>
<script>
const resolve = (doc, schema, depth = 0) => {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return resolve(doc, doc.components.schemas[name], depth + 1);
  }
  return schema;
};
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  for (const c of children) e.append(c);
  return e;
};
fetch('/openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('intro').textContent = doc.info.description +
    ' Authenticate with "Authorization: Bearer <token>".';
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [verb, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'events';
      (groups[tag] = groups[tag] || []).push([verb, path, op]);
    }
  }
  const ops = document.getElementById('ops');
  for (const [tag, list] of Object.entries(groups)) {
    ops.append(el('h2', {textContent: tag}));
    for (const [verb, path, op] of list) {
      const body = op.requestBody && op.requestBody.content['application/json'].schema;
      const ok = op.responses['200'].content;
      const resp = ok && (ok['application/json'] || ok['text/event-stream']).schema;
      ops.append(el('details', {},
        el('summary', {}, el('span', {className: 'verb', textContent: verb.toUpperCase()}),
           el('code', {textContent: path}), ' — ' + (op.summary || '')),
        el('p', {textContent: 'Request:'}),
        el('pre', {textContent: JSON.stringify(resolve(doc, body), null, 2) || 'none'}),
        el('p', {textContent: 'Response:'}),
        el('pre', {textContent: JSON.stringify(resolve(doc, resp), null, 2)})));
    }
  }
}).catch(e => { document.getElementById('intro').textContent = 'Cannot load /openapi.json: ' + e; });
</script></body></html>
"#;
