/*
 * dray's web UI: one page, routed by the URL's fragment. Everything it
 * shows comes from the registry's own APIs, asked with the caller's
 * credentials: the search extension (/v2/_zot/ext/search, zot's GraphQL
 * queries) where it is on, and the distribution API (/v2/...).
 *
 *   #/                     home: recently updated and most pulled
 *   #/search/<q>           search (as you type in the header)
 *   #/repo/<name>          a repository: its tags
 *   #/image/<name>/<ref>   an image (tag or digest): layers, config,
 *                          annotations, referrers, pull commands
 *   #/login                the login form (when authentication is on)
 *
 * The DOM is built with createElement and textContent only (nothing the
 * registry returns is parsed as HTML), and no inline code or style: the
 * Content-Security-Policy forbids both. When a page has rendered, <body>
 * gets data-page (its name) and data-state ("ready" or "error"), which
 * the tests wait for.
 */
'use strict';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const INDEX_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];
const SEARCH = '/v2/_zot/ext/search';
const MAX_TAGS = 100; /* tags whose manifests a repository page reads */

const state = {
  auth: sessionStorage.getItem('dray.auth'), /* base64 user:pass */
  user: sessionStorage.getItem('dray.user'),
  authOn: false,  /* /v2/ refused an anonymous caller */
  anon: sessionStorage.getItem('dray.anon') === '1',
  search: null,   /* the search extension answers: unknown yet */
  noDelete: {},   /* repositories where a DELETE was refused */
  gen: 0,         /* which render is current */
};

/* ---- DOM helpers ---- */

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function errorBox(what, e) {
  return h('div', {class: 'error', role: 'alert'}, what + ': ' + e.message);
}

/* A table; @cols are [label, function(row) -> content]. Stacks on phones. */
function table(cols, rows, attrs) {
  return h('table', Object.assign({class: 'stack'}, attrs || {}),
    h('thead', {}, h('tr', {}, cols.map(c => h('th', {}, c[0])))),
    h('tbody', {}, rows.map(r => h('tr', {},
      cols.map(c => h('td', {'data-label': c[0]}, c[1](r)))))));
}

/* @v if it is an array, else an empty one: registry JSON may be any shape. */
function arr(v) {
  return Array.isArray(v) ? v : [];
}

/* A value from the registry as text: strings as they are, the rest as JSON. */
function asText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function kvTable(obj, cls) {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h('p', {class: 'muted'}, 'None.');
  return h('table', {class: 'kv stack ' + (cls || '')}, h('tbody', {},
    keys.sort().map(k => h('tr', {}, h('th', {}, k),
      h('td', {'data-label': k, class: 'mono'}, asText(obj[k]))))));
}

function fmtSize(n) {
  n = Number(n);
  if (!isFinite(n) || n < 0) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (isNaN(d) || d.getUTCFullYear() < 1971) return '—';
  return d.toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

function short(digest) {
  return digest ? String(digest).replace(/^(sha\d+:)(.{12}).*$/, '$1$2') : '';
}

function repoLink(name) {
  return h('a', {href: '#/repo/' + encodeURIComponent(name)}, name);
}

function imageHref(name, ref) {
  return '#/image/' + encodeURIComponent(name) + '/' + encodeURIComponent(ref);
}

/* ---- the APIs ---- */

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/*
 * fetch() with the caller's credentials. credentials 'omit' keeps the
 * browser's own login dialog away (a 401 comes back here instead), and
 * the Authorization header carries what the login form took.
 */
async function api(path, opts) {
  opts = opts || {};
  const headers = Object.assign({}, opts.headers || {});
  if (state.auth) headers.Authorization = 'Basic ' + state.auth;
  let r;
  try {
    r = await fetch(path, {method: opts.method || 'GET', headers,
      body: opts.body, credentials: 'omit', cache: 'no-store'});
  } catch (e) {
    throw new ApiError(0, (opts.method || 'GET') + ' ' + path +
      ': the registry did not answer (' + e.message + ')');
  }
  if (r.ok || (opts.allow || []).includes(r.status)) return r;
  let msg = r.status + ' ' + (r.statusText || 'error');
  try {
    const j = await r.json();
    const errs = (j && j.errors) || [];
    if (errs.length)
      msg += ': ' + errs.map(e => e.message + (e.code ? ' (' + e.code + ')' : '')).join('; ');
  } catch (_) { /* no JSON body */ }
  if (r.status === 401)
    msg += state.auth ? ' (your login was refused)' : ' (log in to see this)';
  throw new ApiError(r.status, (opts.method || 'GET') + ' ' + path + ': ' + msg);
}

async function apiJSON(path, opts) {
  const r = await api(path, opts);
  try {
    return await r.json();
  } catch (e) {
    throw new ApiError(r.status, 'GET ' + path + ': not JSON (' + e.message + ')');
  }
}

function repoPath(name) {
  /* A name's '/' stays: the distribution API reads the path from its end. */
  return name.split('/').map(encodeURIComponent).join('/');
}

/*
 * A manifest: its digest and type from a HEAD, its bytes from the blob
 * store. A GET of the manifest would count as a pull (DownloadCount in
 * the search answers) each time someone looks at it here.
 */
async function manifest(name, ref) {
  const path = '/v2/' + repoPath(name);
  const url = path + '/manifests/' + encodeURIComponent(ref);
  const head = await api(url, {method: 'HEAD', headers: {Accept: MANIFEST_TYPES},
    allow: [400, 401, 403, 404]});
  if (!head.ok) /* a HEAD has no body: a GET says why (and counts nothing) */
    await api(url, {headers: {Accept: MANIFEST_TYPES}});
  const digest = head.headers.get('Docker-Content-Digest') ||
    (ref.includes(':') ? ref : '');
  if (!digest) throw new ApiError(0, 'HEAD ' + name + ':' + ref + ': no Docker-Content-Digest');
  const r = await api(path + '/blobs/' + encodeURIComponent(digest));
  const body = await r.text();
  let m;
  try { m = JSON.parse(body); } catch (e) {
    throw new ApiError(r.status, 'manifest ' + name + ':' + ref + ' is not JSON');
  }
  return {m, digest,
    type: m.mediaType || (head.headers.get('Content-Type') || '').split(';')[0],
    len: new TextEncoder().encode(body).length};
}

function isIndex(t) { return INDEX_TYPES.includes(t); }

function imageSize(mf) {
  const m = mf.m;
  return mf.len + (m.config ? m.config.size || 0 : 0) +
    arr(m.layers).reduce((a, l) => a + (l.size || 0), 0);
}

async function blobJSON(name, digest) {
  return apiJSON('/v2/' + repoPath(name) + '/blobs/' + encodeURIComponent(digest));
}

/*
 * A query to the search extension: its data, null when the extension is
 * off (404), or an ApiError with GraphQL's messages.
 */
async function gql(query, variables) {
  if (state.search === false) return null;
  const r = await api(SEARCH, {method: 'POST', allow: [404],
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({query, variables: variables || {}})});
  if (r.status === 404) {
    state.search = false;
    return null;
  }
  state.search = true;
  let j;
  try { j = await r.json(); } catch (e) {
    throw new ApiError(r.status, 'search: the answer is not JSON');
  }
  if (j.errors && j.errors.length)
    throw new ApiError(r.status, 'search: ' + j.errors.map(e => e.message).join('; '));
  return j.data;
}

const REPO_FIELDS = 'Name LastUpdated Size DownloadCount Platforms { Os Arch } NewestImage { Tag }';

/* ---- pages ---- */

function platformText(p) {
  if (!p) return '';
  return [p.os || p.Os, p.architecture || p.Arch, p.variant].filter(Boolean).join('/');
}

function repoCards(list, id) {
  if (!list.length) return h('p', {class: 'muted', id}, 'No repositories.');
  return h('div', {class: 'grid', id}, list.map(r => h('div', {class: 'card repo'},
    h('div', {class: 'name'}, repoLink(r.Name)),
    h('div', {class: 'facts'},
      r.NewestImage && r.NewestImage.Tag ? h('span', {}, 'newest: ', h('code', {}, r.NewestImage.Tag)) : null,
      r.Size ? h('span', {}, fmtSize(r.Size)) : null,
      r.LastUpdated ? h('span', {}, 'updated ' + fmtTime(r.LastUpdated)) : null,
      r.DownloadCount !== undefined && r.DownloadCount !== null ?
        h('span', {class: 'pulls'}, r.DownloadCount + ' pulls') : null,
      r.tags !== undefined ? h('span', {}, r.tags + ' tags') : null),
    (r.Platforms || []).length ? h('div', {},
      r.Platforms.map(p => h('span', {class: 'tag'}, platformText(p)))) : null)));
}

async function catalog() {
  const j = await apiJSON('/v2/_catalog');
  return j.repositories || [];
}

async function pageHome(main) {
  const page = {limit: 12, offset: 0};
  const q = 'query ($recent: PageInput, $popular: PageInput) {' +
    ' Recent: RepoListWithNewestImage(requestedPage: $recent) { Results { ' + REPO_FIELDS + ' } }' +
    ' Popular: RepoListWithNewestImage(requestedPage: $popular) { Results { ' + REPO_FIELDS + ' } } }';
  const data = await gql(q, {recent: Object.assign({sortBy: 'UPDATE_TIME'}, page),
    popular: Object.assign({sortBy: 'DOWNLOADS'}, page)});
  if (data) {
    main.append(h('h1', {}, 'Repositories'),
      h('h2', {}, 'Recently updated'), repoCards(data.Recent.Results, 'recent'),
      h('h2', {}, 'Most pulled'), repoCards(data.Popular.Results, 'popular'));
    await homeBookmarks(main);
    return;
  }
  /* Without the search extension: the catalog, each with its tag count. */
  const names = await catalog();
  const shown = names.slice(0, 60);
  const rows = await Promise.all(shown.map(async name => {
    try {
      const t = await apiJSON('/v2/' + repoPath(name) + '/tags/list');
      return {Name: name, tags: (t.tags || []).length};
    } catch (e) {
      return {Name: name};
    }
  }));
  main.append(h('h1', {}, 'Repositories'),
    h('p', {class: 'muted'}, 'The search extension is off: this is the catalog (' +
      names.length + ' repositories). Recent and most pulled need extensions.search.'),
    repoCards(rows, 'catalog'));
}

async function pageSearch(main, q) {
  const input = document.getElementById('q');
  if (document.activeElement !== input) input.value = q;
  main.append(h('h1', {}, 'Search: ' + q));
  if (!q.trim()) {
    main.append(h('p', {class: 'muted'}, 'Type in the box above.'));
    return;
  }
  const data = await gql('query ($q: String!, $page: PageInput) {' +
    ' GlobalSearch(query: $q, requestedPage: $page) { Page { TotalCount }' +
    ' Repos { ' + REPO_FIELDS + ' } } }',
    {q, page: {limit: 30, offset: 0, sortBy: 'RELEVANCE'}});
  let list;
  if (data) {
    list = data.GlobalSearch.Repos || [];
  } else {
    const needle = q.toLowerCase();
    list = (await catalog()).filter(n => n.toLowerCase().includes(needle))
      .map(n => ({Name: n}));
  }
  main.append(h('p', {class: 'muted', id: 'count'}, list.length + ' found'),
    repoCards(list, 'results'));
}

function pullCommands(name, ref) {
  const host = location.host;
  const at = ref.includes(':') ? '@' + ref : ':' + ref;
  const img = host + '/' + name + at;
  const local = name.split('/').pop() + (ref.includes(':') ? '' : ':' + ref);
  const cmds = [
    ['docker', 'docker pull ' + img],
    ['podman', 'podman pull ' + img],
    ['skopeo', 'skopeo copy docker://' + img + ' oci:' + local],
  ];
  return h('div', {class: 'card', id: 'pull'}, cmds.map(([tool, cmd]) => {
    const input = h('input', {readonly: true, value: cmd, 'aria-label': tool + ' pull command',
      'data-tool': tool});
    const btn = h('button', {type: 'button', onclick: async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(cmd);
      } catch (_) {
        document.execCommand('copy'); /* not a secure context */
      }
      btn.textContent = 'Copied';
    }}, 'Copy');
    return h('div', {class: 'pull'}, h('label', {}, tool), input, btn);
  }));
}

/* What a repository page shows of one tag (distribution API). */
async function tagInfo(name, tag) {
  const row = {tag};
  try {
    const mf = await manifest(name, tag);
    row.digest = mf.digest;
    if (isIndex(mf.type)) {
      const subs = arr(mf.m.manifests).filter(d => d && d.platform &&
        d.platform.os !== 'unknown');
      row.platforms = subs.map(d => platformText(d.platform));
      row.size = mf.len + subs.reduce((a, d) => a + (d.size || 0), 0);
      const first = subs[0];
      if (first) {
        const child = await manifest(name, first.digest);
        row.size += imageSize(child) - child.len;
        if (child.m.config) {
          const cfg = await blobJSON(name, child.m.config.digest);
          row.created = cfg.created;
        }
      }
    } else {
      row.size = imageSize(mf);
      if (mf.m.config && mf.m.config.mediaType &&
          /image\.config|container\.image/.test(mf.m.config.mediaType)) {
        const cfg = await blobJSON(name, mf.m.config.digest);
        row.created = cfg.created;
        row.platforms = [platformText(cfg)];
      } else {
        row.platforms = [mf.m.artifactType || (mf.m.config || {}).mediaType || ''];
      }
    }
    if (mf.m.annotations && mf.m.annotations['org.opencontainers.image.created'])
      row.created = row.created || mf.m.annotations['org.opencontainers.image.created'];
  } catch (e) {
    row.error = e;
  }
  return row;
}

async function deleteTag(name, row, tr, status) {
  status.replaceChildren();
  try {
    await api('/v2/' + repoPath(name) + '/manifests/' + encodeURIComponent(row.tag),
      {method: 'DELETE'});
    tr.remove();
    status.append(h('div', {class: 'notice', role: 'status', id: 'deleted'},
      'Deleted tag ' + row.tag + '.'));
  } catch (e) {
    if ([401, 403, 405].includes(e.status)) {
      state.noDelete[name] = true;
      for (const b of document.querySelectorAll('button.delete')) b.remove();
    }
    status.append(errorBox('Cannot delete ' + name + ':' + row.tag, e));
  }
}

function deleteCell(name, row, status) {
  if (state.noDelete[name] || row.error || row.deletable === false) return '';
  const cell = h('span', {});
  const ask = h('button', {type: 'button', class: 'danger delete',
    'data-tag': row.tag, onclick: () => {
      const tr = cell.closest('tr');
      cell.replaceChildren(h('span', {}, 'Delete ' + row.tag + '? '),
        h('button', {type: 'button', class: 'danger confirm', onclick: () =>
          deleteTag(name, row, tr, status)}, 'Yes, delete'), ' ',
        h('button', {type: 'button', class: 'cancel', onclick: () =>
          cell.replaceChildren(ask)}, 'Cancel'));
    }}, 'Delete');
  cell.append(ask);
  return cell;
}

async function pageRepo(main, name) {
  main.append(h('h1', {}, name));
  const [tags, search] = await Promise.all([
    apiJSON('/v2/' + repoPath(name) + '/tags/list'),
    gql('query ($repo: String!) { ExpandedRepoInfo(repo: $repo) {' +
      ' Summary { Name LastUpdated Size DownloadCount }' +
      ' Images { Tag Digest Size LastUpdated DownloadCount IsDeletable' +
      ' Manifests { Platform { Os Arch } } } } }', {repo: name})
      .catch(e => ({failed: e})),
  ]);
  const list = (tags.tags || []).slice().sort();
  const info = search && search.ExpandedRepoInfo;
  const pulls = Object.create(null); /* a tag may be "__proto__" */
  let rows;
  if (info) {
    /* The search extension knows it all: no manifest to read here. */
    const byTag = Object.create(null);
    for (const im of info.Images || []) {
      pulls[im.Tag] = im.DownloadCount;
      byTag[im.Tag] = im;
    }
    rows = list.slice(0, MAX_TAGS).map(t => byTag[t] ? {tag: t,
      digest: byTag[t].Digest, size: byTag[t].Size, created: byTag[t].LastUpdated,
      deletable: byTag[t].IsDeletable,
      platforms: (byTag[t].Manifests || []).map(m => platformText(m.Platform))
        .filter(Boolean)} : {tag: t});
  } else {
    rows = await Promise.all(list.slice(0, MAX_TAGS).map(t => tagInfo(name, t)));
  }
  const status = h('div', {id: 'status'});
  const facts = h('div', {class: 'facts'}, h('span', {id: 'tagcount'}, list.length + ' tags'));
  if (info && info.Summary) {
    facts.append(h('span', {}, 'updated ' + fmtTime(info.Summary.LastUpdated)),
      h('span', {}, fmtSize(info.Summary.Size)),
      h('span', {class: 'pulls'}, info.Summary.DownloadCount + ' pulls'));
  }
  main.append(facts, status);
  await prefsToggles(main, name);
  if (search && search.failed) main.append(errorBox('Pull counts', search.failed));
  if (list.length > MAX_TAGS)
    main.append(h('p', {class: 'muted'}, 'The first ' + MAX_TAGS + ' tags are shown.'));
  if (!list.length) {
    main.append(h('p', {class: 'muted'}, 'No tags.'));
    return;
  }
  const newest = rows.filter(r => !r.error).sort((a, b) =>
    String(b.created || '').localeCompare(String(a.created || '')))[0];
  main.append(h('h2', {}, 'Tags'), table([
    ['Tag', r => h('a', {href: imageHref(name, r.tag), class: 'tagname'}, r.tag)],
    ['Digest', r => r.error ? errorBox('Cannot read this tag', r.error) :
      h('code', {title: r.digest}, short(r.digest))],
    ['Platforms', r => (r.platforms || []).map(p => h('span', {class: 'tag'}, p))],
    ['Size', r => r.size !== undefined ? fmtSize(r.size) : '—'],
    ['Last update', r => fmtTime(r.created)],
    ['Pulls', r => r.tag in pulls ? String(pulls[r.tag]) : '—'],
    ['', r => deleteCell(name, r, status)],
  ], rows, {id: 'tags'}));
  if (!info)
    main.append(h('p', {class: 'muted'}, 'Pull counts need the search extension.'));
  if (newest) main.append(h('h2', {}, 'Pull ' + newest.tag), pullCommands(name, newest.tag));
}

/* What refers to @digest, by kind. */
function referrerKind(d) {
  const t = (d.artifactType || d.mediaType || '').toLowerCase();
  if (/signature|\.sig\b|cosign|notary/.test(t)) return 'Signatures';
  if (/spdx|cyclonedx|sbom|syft/.test(t)) return 'SBOMs';
  if (/in-toto|intoto|attestation|provenance|sigstore\.bundle|slsa/.test(t))
    return 'Attestations';
  return 'Other artifacts';
}

async function referrersSection(name, digest) {
  const box = h('section', {id: 'referrers'}, h('h2', {}, 'Referrers'));
  try {
    const idx = await apiJSON('/v2/' + repoPath(name) + '/referrers/' + encodeURIComponent(digest));
    const refs = idx.manifests || [];
    if (!refs.length) {
      box.append(h('p', {class: 'muted'}, 'Nothing refers to this image: no signatures, SBOMs or attestations.'));
      return box;
    }
    const kinds = {};
    for (const d of refs) (kinds[referrerKind(d)] = kinds[referrerKind(d)] || []).push(d);
    for (const k of ['Signatures', 'SBOMs', 'Attestations', 'Other artifacts']) {
      if (!kinds[k]) continue;
      box.append(h('h3', {}, k + ' (' + kinds[k].length + ')'), table([
        ['Digest', d => h('a', {href: imageHref(name, d.digest)}, h('code', {}, short(d.digest)))],
        ['Artifact type', d => h('code', {}, d.artifactType || d.mediaType || '')],
        ['Size', d => fmtSize(d.size)],
        ['Annotations', d => Object.entries(d.annotations || {}).map(([a, v]) =>
          h('div', {class: 'mono'}, a + '=' + v))],
      ], kinds[k], {class: 'stack referrers', 'data-kind': k}));
    }
  } catch (e) {
    box.append(errorBox('Cannot read the referrers', e));
  }
  return box;
}

function configSection(cfg) {
  const c = cfg.config || {};
  const facts = {};
  if (cfg.created) facts.Created = fmtTime(cfg.created);
  if (cfg.author) facts.Author = cfg.author;
  const plat = platformText(cfg);
  if (plat) facts.Platform = plat;
  if (c.User) facts.User = c.User;
  if (c.WorkingDir) facts.WorkingDir = c.WorkingDir;
  if (c.Entrypoint) facts.Entrypoint = JSON.stringify(c.Entrypoint);
  if (c.Cmd) facts.Cmd = JSON.stringify(c.Cmd);
  if (c.Env) facts.Env = Array.isArray(c.Env) ? c.Env.join('\n') : asText(c.Env);
  if (c.ExposedPorts) facts.ExposedPorts = Object.keys(c.ExposedPorts).join(', ');
  return [h('h2', {}, 'Config'), kvTable(facts, 'config'),
    h('h2', {}, 'Labels'), kvTable(c.Labels, 'labels'),
    h('details', {}, h('summary', {}, 'Raw config'), h('pre', {}, JSON.stringify(cfg, null, 2)))];
}

/* Layers with the history entries that made them (empty ones skipped). */
function layersSection(m, cfg) {
  const hist = arr(cfg && cfg.history).filter(e => e && typeof e === 'object');
  const made = hist.filter(e => !e.empty_layer);
  const layers = arr(m.layers).map((l, i) => Object.assign({n: i + 1, hist: made[i]}, l));
  return [h('h2', {}, 'Layers (' + layers.length + ')'), table([
    ['#', l => String(l.n)],
    ['Digest', l => h('code', {title: l.digest}, short(l.digest))],
    ['Size', l => fmtSize(l.size)],
    ['Created by', l => l.hist ? h('code', {}, l.hist.created_by || l.hist.comment || '') : '—'],
    ['Created', l => fmtTime(l.hist && l.hist.created)],
  ], layers, {id: 'layers'}),
  hist.length ? h('details', {}, h('summary', {}, 'Full history (' + hist.length + ' steps)'),
    table([['Created', e => fmtTime(e.created)],
      ['Step', e => h('code', {}, e.created_by || e.comment || '')],
      ['Layer', e => e.empty_layer ? 'no' : 'yes']], hist, {id: 'history'})) : null];
}

async function pageImage(main, name, ref) {
  main.append(h('h1', {}, h('a', {href: '#/repo/' + encodeURIComponent(name)}, name),
    ref.includes(':') ? '@' + short(ref) : ':' + ref));
  const mf = await manifest(name, ref);
  const m = mf.m;
  main.append(h('div', {class: 'facts'},
    h('span', {}, 'digest ', h('code', {id: 'digest'}, mf.digest)),
    h('span', {}, h('code', {}, mf.type)),
    h('span', {}, fmtSize(isIndex(mf.type) ? mf.len +
      arr(m.manifests).reduce((a, d) => a + ((d && d.size) || 0), 0) : imageSize(mf)))));
  main.append(h('h2', {}, 'Pull'), pullCommands(name, ref));
  if (isIndex(mf.type)) {
    main.append(h('h2', {}, 'Platforms'), table([
      ['Platform', d => d.platform ? platformText(d.platform) : '—'],
      ['Manifest', d => h('a', {href: imageHref(name, d.digest)}, h('code', {}, short(d.digest)))],
      ['Size', d => fmtSize(d.size)],
    ], arr(m.manifests).filter(Boolean), {id: 'platforms'}));
  } else {
    let cfg = null;
    const cd = m.config || {};
    if (/image\.config|container\.image/.test(cd.mediaType || '')) {
      try {
        cfg = await blobJSON(name, cd.digest);
      } catch (e) {
        main.append(errorBox('Cannot read the config', e));
      }
    } else if (m.artifactType || cd.mediaType) {
      main.append(h('p', {}, 'An artifact: ', h('code', {}, m.artifactType || cd.mediaType)));
    }
    if (m.subject)
      main.append(h('p', {}, 'Refers to ',
        h('a', {href: imageHref(name, m.subject.digest)}, h('code', {}, short(m.subject.digest)))));
    main.append(...layersSection(m, cfg));
    if (cfg) main.append(...configSection(cfg));
  }
  main.append(h('h2', {}, 'Annotations'), kvTable(m.annotations, 'annotations'));
  if (mf.digest) main.append(await referrersSection(name, mf.digest));
}

function pageLogin(main, why) {
  const user = h('input', {id: 'user', name: 'user', autocomplete: 'username', required: true});
  const pass = h('input', {id: 'pass', name: 'pass', type: 'password',
    autocomplete: 'current-password', required: true});
  const msg = h('div', {});
  if (why) msg.append(h('div', {class: 'error', role: 'alert'}, why));
  const form = h('form', {class: 'login card', id: 'login', onsubmit: async ev => {
    ev.preventDefault();
    msg.replaceChildren();
    const bytes = new TextEncoder().encode(user.value + ':' + pass.value);
    const token = btoa(String.fromCharCode(...bytes));
    const saved = state.auth;
    state.auth = token;
    try {
      await api('/v2/');
    } catch (e) {
      state.auth = saved;
      msg.append(h('div', {class: 'error', role: 'alert', id: 'loginerror'},
        e.status === 401 ? 'Login refused: wrong user name or password.' : e.message));
      return;
    }
    state.user = user.value;
    sessionStorage.setItem('dray.auth', token);
    sessionStorage.setItem('dray.user', user.value);
    location.hash = '#/';
    renderWho();
  }},
  h('h1', {}, 'Log in'),
  h('p', {class: 'muted'}, 'This registry asks for a login. Your credentials stay in this tab and go only to this registry.'),
  msg,
  h('label', {for: 'user'}, 'User name'), user,
  h('label', {for: 'pass'}, 'Password'), pass,
  h('button', {type: 'submit', class: 'primary'}, 'Log in'),
  h('p', {}, h('a', {href: '#/', id: 'anon', onclick: () => {
    state.anon = true;
    sessionStorage.setItem('dray.anon', '1');
  }}, 'Browse without logging in')));
  main.append(form);
  user.focus();
}

function renderWho() {
  const who = document.getElementById('who');
  who.replaceChildren();
  if (state.auth) {
    who.append(h('span', {id: 'user-name'}, state.user || ''),
      h('a', {href: '#/login', onclick: () => {
        state.auth = state.user = null;
        sessionStorage.removeItem('dray.auth');
        sessionStorage.removeItem('dray.user');
        renderWho();
      }}, 'Log out'));
  } else if (state.authOn) {
    who.append(h('a', {href: '#/login'}, 'Log in'));
  }
}

/* ---- routing ---- */

async function render() {
  const gen = ++state.gen;
  const main = document.getElementById('main');
  const raw = location.hash.replace(/^#\/?/, '').split('/');
  const page = raw[0] || 'home';
  const body = document.body;
  const out = h('div', {});
  body.dataset.state = 'loading';
  body.dataset.page = page;
  if (page !== 'search') document.getElementById('q').value = '';
  main.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  try {
    /* A name's '/' may come encoded or not: #/repo/library/app works too. */
    const parts = raw.map(decodeURIComponent);
    if (page === 'login') {
      pageLogin(out, null);
    } else if (state.authOn && !state.auth && !state.anon) {
      body.dataset.page = 'login';
      pageLogin(out, null);
    } else if (page === 'home') {
      await pageHome(out);
    } else if (page === 'search') {
      await pageSearch(out, parts.slice(1).join('/'));
    } else if (page === 'repo' && parts[1]) {
      await pageRepo(out, parts.slice(1).join('/'));
    } else if (page === 'image' && parts.length > 2 && parts[1] && parts[parts.length - 1]) {
      await pageImage(out, parts.slice(1, -1).join('/'), parts[parts.length - 1]);
    } else {
      throw new Error('no such page: ' + location.hash);
    }
    if (gen !== state.gen) return; /* navigated away meanwhile */
    main.replaceChildren(out);
    body.dataset.ms = Math.round(performance.now()); /* since navigation */
    performance.mark('dray:ready', {detail: page}); /* contrib/bench/ui.sh */
    body.dataset.state = 'ready';
  } catch (e) {
    if (gen !== state.gen) return;
    out.append(errorBox('Cannot show this page', e));
    main.replaceChildren(out);
    body.dataset.state = 'error';
  }
}

async function boot() {
  /* Is authentication on? /v2/ answers 401 to anyone not logged in. */
  try {
    await api('/v2/');
  } catch (e) {
    if (e.status === 401) {
      state.authOn = true;
      if (state.auth) { /* a stored login no longer works */
        state.auth = null;
        sessionStorage.removeItem('dray.auth');
      }
    }
  }
  renderWho();
  const q = document.getElementById('q');
  let timer = 0;
  /* Search as you type: each change is a search page of its own. */
  q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const target = '#/search/' + encodeURIComponent(q.value);
      if (location.hash.startsWith('#/search/')) history.replaceState(null, '', target);
      else history.pushState(null, '', target);
      render();
    }, 120);
  });
  document.getElementById('search').addEventListener('submit', ev => ev.preventDefault());
  window.addEventListener('hashchange', render);
  render();
}

/* ---- stars and bookmarks (zot's userprefs extension) ---- */

const USERPREFS = '/v2/_zot/ext/userprefs';

/*
 * A logged-in caller's star and bookmark toggles for repository @name,
 * each a PUT of zot's toggle; the buttons say what is now so.
 */
async function prefsToggles(main, name) {
  if (!state.auth || state.search === false) return;
  let s;
  try {
    const d = await gql('query ($repo: String!) { ExpandedRepoInfo(repo: $repo) {' +
      ' Summary { StarCount IsStarred IsBookmarked } } }', {repo: name});
    s = d && d.ExpandedRepoInfo && d.ExpandedRepoInfo.Summary;
  } catch (e) {
    main.append(errorBox('Stars and bookmarks', e));
    return;
  }
  if (!s) return;
  const msg = h('span', {id: 'prefs-status', role: 'status'});
  const star = h('button', {type: 'button', id: 'star'});
  const mark = h('button', {type: 'button', id: 'bookmark'});
  const show = () => {
    star.textContent = (s.IsStarred ? '★ Starred' : '☆ Star') + ' · ' + s.StarCount;
    star.setAttribute('aria-pressed', String(!!s.IsStarred));
    mark.textContent = s.IsBookmarked ? '✓ Bookmarked' : 'Bookmark';
    mark.setAttribute('aria-pressed', String(!!s.IsBookmarked));
  };
  const toggle = async (action, key) => {
    msg.replaceChildren();
    try {
      await api(USERPREFS + '?action=' + action + '&repo=' + encodeURIComponent(name),
        {method: 'PUT'});
      s[key] = !s[key];
      if (key === 'IsStarred') s.StarCount += s.IsStarred ? 1 : -1;
      show();
    } catch (e) {
      msg.append(errorBox('Cannot change it', e));
    }
  };
  star.addEventListener('click', () => toggle('toggleStar', 'IsStarred'));
  mark.addEventListener('click', () => toggle('toggleBookmark', 'IsBookmarked'));
  show();
  main.append(h('div', {class: 'facts', id: 'prefs'}, star, ' ', mark, msg));
}

/* The home page's "Your bookmarks", for a logged-in caller. */
async function homeBookmarks(main) {
  if (!state.auth) return;
  try {
    const d = await gql('{ BookmarkedRepos(requestedPage: {limit: 12, offset: 0,' +
      ' sortBy: ALPHABETIC_ASC}) { Results { ' + REPO_FIELDS + ' } } }');
    if (d) main.append(h('h2', {}, 'Your bookmarks'),
      repoCards(d.BookmarkedRepos.Results, 'bookmarks'));
  } catch (e) {
    main.append(errorBox('Your bookmarks', e));
  }
}

boot();
