#!/bin/bash
# ui-pages.sh - the web UI (extensions.ui) in headless Chromium: a dray
# with known images (tags with layers and history, a two-platform index,
# a signature, an SBOM and an attestation referring to one image) and
# authentication on, each page loaded and what it shows checked: the
# login form and a refused login, then (browsing without a login) home,
# search as you type, a repository, an image, an index, a failed
# request, deleting a tag, a phone-sized screen; then a user who may
# read but not delete; then the pages without the search extension (the
# catalog, the manifests read, a refused deletion); bob also stars and
# bookmarks a repository, and home lists his bookmark. A PNG per page goes
# to $DRAY_BUILD/it-out/ui-pages/ (docs/ui/ holds copies). Also: the
# files' headers (CSP, ETag, 304), and / as 404 with the UI off (the
# config key: unit/config). No page may log a CSP violation or a script
# exception.
. "$(dirname "$0")/../lib.sh"
require_dray "the web UI"
command -v chromium >/dev/null ||
	fail "chromium is missing: contrib/install-deps.sh --test"
need_htpasswd

SHOTS=${UI_SHOTS:-$DRAY_BUILD/it-out/$CASE_NAME}
mkdir -p "$SHOTS"
UI_ON='extensions:
  ui:
    enable: true
  search:
    enable: true'

# --- UI off (the default): / is no endpoint, as before
dray_start_cfg
req GET /
assert_status 404
req GET /ui/app.js
assert_status 404
dray_stop

# The images, written as OCI layouts before the start (the layouts are
# the source of truth; dray indexes what it finds): quicker than pushing
# each piece. library/app: v1 (2 layers; a signature, an SBOM and an
# attestation refer to it) and v2 (3 layers); tools/multi: latest, an
# index of linux/amd64 and linux/arm64. Prints v1's and v2's digests.
read -r V1 V2 < <(python3 - "$WORK/data" <<'LAYOUT'
import hashlib, json, os, sys
root = sys.argv[1]
OCI_M = "application/vnd.oci.image.manifest.v1+json"

def blob(repo, data, mt):
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, repo, "blobs/sha256"), exist_ok=True)
    with open(os.path.join(root, repo, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(data)}

def image(repo, ref, arch, n, day, annotations=None):
    layers = [blob(repo, os.urandom(3000 + 1000 * i),
                   "application/vnd.oci.image.layer.v1.tar")
              for i in range(n)]
    hist = [{"created": "2025-11-01T09:00:00Z",
             "created_by": "ENV PATH=/usr/bin", "empty_layer": True}]
    hist += [{"created": "2025-11-01T09:00:00Z",
              "created_by": "RUN build-step-%d" % i} for i in range(n)]
    cfg = blob(repo, {"architecture": arch, "os": "linux",
                      "created": "2025-11-%02dT10:00:00Z" % day,
                      "config": {"Env": ["PATH=/usr/bin"],
                                 "Cmd": ["/bin/app", "--serve"],
                                 "Labels": {"org.opencontainers.image.title":
                                            "app " + ref, "ui.test": arch}},
                      "rootfs": {"type": "layers",
                                 "diff_ids": [l["digest"] for l in layers]},
                      "history": hist},
               "application/vnd.oci.image.config.v1+json")
    m = {"schemaVersion": 2, "mediaType": OCI_M, "config": cfg,
         "layers": layers}
    if annotations:
        m["annotations"] = annotations
    return blob(repo, m, OCI_M)

def referrer(repo, subject, at, kind):
    m = {"schemaVersion": 2, "mediaType": OCI_M, "artifactType": at,
         "config": blob(repo, b"{}", "application/vnd.oci.empty.v1+json"),
         "layers": [blob(repo, json.dumps({"kind": kind}).encode(), at)],
         "subject": subject, "annotations": {"ui.test.kind": kind}}
    return blob(repo, m, OCI_M)

def layout(repo, manifests):
    with open(os.path.join(root, repo, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(root, repo, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2,
                   "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}, f)

def tagged(d, tag):
    return dict(d, annotations={"org.opencontainers.image.ref.name": tag})

v1 = image("library/app", "v1", "amd64", 2, 2,
           {"org.opencontainers.image.source": "https://example.com/app"})
v2 = image("library/app", "v2", "amd64", 3, 3)
refs = [referrer("library/app", v1, at, kind) for at, kind in (
    ("application/vnd.dev.cosign.artifact.sig.v1+json", "signature"),
    ("application/spdx+json", "sbom"),
    ("application/vnd.in-toto+json", "attestation"))]
layout("library/app", [tagged(v1, "v1"), tagged(v2, "v2")] + refs)
a = dict(image("tools/multi", "amd64", "amd64", 1, 4),
         platform={"os": "linux", "architecture": "amd64"})
b = dict(image("tools/multi", "arm64", "arm64", 1, 4),
         platform={"os": "linux", "architecture": "arm64"})
idx = blob("tools/multi", {"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": [a, b]},
           "application/vnd.oci.image.index.v1+json")
layout("tools/multi", [tagged(idx, "latest")])
# edge/cases: what any pusher may write, shown as text and breaking
# nothing: markup and a javascript: URL in annotations, a config whose
# Env is no list and whose history holds a null, and the tag __proto__
# (a valid tag, and a key every JavaScript object has).
el = blob("edge/cases", os.urandom(2000),
          "application/vnd.oci.image.layer.v1.tar")
ecfg = blob("edge/cases", {"architecture": "amd64", "os": "linux",
                           "created": "2025-10-01T10:00:00Z",
                           "config": {"Env": "PATH=/bin",
                                      "Labels": {"n": [1, 2]}},
                           "rootfs": {"type": "layers",
                                      "diff_ids": [el["digest"]]},
                           "history": [None, {"created_by": "<b>RUN</b>"}]},
            "application/vnd.oci.image.config.v1+json")
em = blob("edge/cases", {"schemaVersion": 2, "mediaType": OCI_M,
                         "config": ecfg, "layers": [el], "annotations": {
    "org.opencontainers.image.source":
        "javascript:document.body.dataset.pwned=1",
    "org.opencontainers.image.description":
        "<img src=x onerror=\"document.body.dataset.pwned=1\">"}}, OCI_M)
layout("edge/cases", [tagged(em, "__proto__")])
print(v1["digest"], v2["digest"])
LAYOUT
)
[ -n "$V2" ] || fail "the layouts were not written"

# --- one daemon for the pages: authentication on; anonymous callers
# may read and delete (to browse without logging in), bob may only read
htpasswd_users "$WORK/cfg/htpasswd" alice:pw-alice bob:pw-bob
HTTP_EXTRA="  auth:
    htpasswd:
      path: $WORK/cfg/htpasswd
  accessControl:
    repositories:
      \"**\":
        anonymousPolicy: [read, delete]
        policies:
          - {users: [alice], actions: [read, create, update, delete]}
          - {users: [bob], actions: [read]}"
dray_start_cfg -- "$UI_ON"

# --- the files: types, a strict CSP, ETag and 304
req GET /
assert_status 200
assert_content_type "text/html; charset=utf-8"
assert_header_match Content-Security-Policy "default-src 'none'; script-src 'self'"
assert_header_match Content-Security-Policy "frame-ancestors 'none'"
assert_header X-Content-Type-Options nosniff
assert_header_match Content-Security-Policy "require-trusted-types-for 'script'; trusted-types 'none'"
assert_header Cross-Origin-Opener-Policy same-origin
assert_true "/ is not the page" grep -q '<script src="/ui/app.js"' "$RESP/body"
ETAG=$(hdr ETag)
req GET / -H "If-None-Match: $ETAG"
assert_status 304
req GET /ui/app.js
assert_status 200
assert_content_type "text/javascript; charset=utf-8"
assert_ne "$ETAG" "$(hdr ETag)" "index.html and app.js have one ETag"
req GET /ui/app.css -H 'If-None-Match: "0000000000000000"'
assert_status 200
assert_content_type "text/css; charset=utf-8"
req GET /ui/nothing.js
assert_status 404

# Two pulls of v1: the most pulled repository.
for _ in 1 2; do
	req GET /v2/library/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
	assert_status 200
done

# --- the pages
PYTHONPATH=$IT_DIR/lib python3 - "$URL" "$SHOTS" "$V1" "$V2" <<'EOF' ||
import sys
from browser import Browser, check
url, shots, v1, v2 = sys.argv[1:]
b = Browser(shots)
try:
    # Authentication is on: the login form comes first; a wrong password
    # is refused there; the caller may go on without logging in.
    check(b.goto(url + "/", "login") == "ready", "the login form first")
    check(b.count("form#login input#pass") == 1, "a password field")
    b.type("#user", "bob")
    b.type("#pass", "wrong")
    b.click("form#login button[type=submit]")
    b.wait("document.querySelector('#loginerror')", "the refusal")
    check("Login refused" in b.text("#loginerror"), "refused login")
    b.shot("login")
    b.click("#anon")
    # Home: recently updated (tools/multi's config is the newest) and
    # most pulled (library/app), from the search extension.
    check(b.rendered("home") == "ready", "home rendered")
    # A figure, no condition: a fresh load of the home page (a new
    # document) until it rendered, both search queries answered.
    b.goto(url + "/?again#/", "home")
    print("note: home page rendered %s ms after the navigation began" %
          b.js("document.body.dataset.ms"), file=sys.stderr)
    recent = b.js("[...document.querySelectorAll('#recent .name')]"
                  ".map(e => e.innerText).join(' ')")
    check(recent == "tools/multi library/app edge/cases", "recent: " + recent)
    check(b.js("performance.getEntriesByName('dray:ready').length") == 1,
          "the mark contrib/bench/ui.sh reads")
    # Trusted Types (the CSP): no string becomes markup, even by mistake.
    n = len(b.problems)
    check(b.js("(() => { try { document.createElement('div').innerHTML ="
               " '<b>x</b>'; return 'allowed'; } catch (e) {"
               " return 'refused'; } })()") == "refused",
          "Trusted Types refuse innerHTML")
    del b.problems[n:]  # the refusal's own report
    top = b.text("#popular .card")
    check("library/app" in top and "2 pulls" in top, "most pulled: " + top)
    b.shot("home")

    # Search as you type: "multi" leaves only tools/multi.
    b.type("#q", "multi")
    b.rendered("search")
    b.wait("document.querySelector('#count')", "search results")
    res = b.text("#main")
    check("tools/multi" in res and "library/app" not in res,
          "search for multi: " + res)
    check(b.js("location.hash") == "#/search/multi", "search URL")
    b.shot("search")

    # A repository: its tags with digests, platforms, sizes, dates.
    check(b.goto(url + "/#/repo/library%2Fapp", "repo") == "ready", "repo")
    t = b.text("#tags")
    check(b.count("#tags tbody tr") == 2, "two tags: " + t)
    for s in ("v1", "v2", v1[:19], v2[:19], "linux/amd64", "2025-11-02",
              "2025-11-03", "KiB"):
        check(s in t, "repo page shows %s: %s" % (s, t))
    check(b.js("document.querySelector('#tags tbody tr td[data-label=Pulls]')"
               ".innerText") == "2", "v1's pulls: " + t)
    check(b.js("document.querySelector('#pull input').value") ==
          "docker pull %s/library/app:v2" % url.split("//", 1)[1],
          "the repository's pull command names its newest tag")
    check(b.count("#star") == 0, "no star toggle without a login")
    b.shot("repo")
    # The name's '/' typed as it is; a malformed escape is an error page.
    check(b.goto(url + "/#/repo/library/app", "repo") == "ready" and
          b.text("h1") == "library/app", "#/repo/library/app: " +
          b.text("#main"))
    check(b.goto(url + "/#/repo/%E0%A4%A", "repo") == "error",
          "a malformed URL is an error page")

    # What a pusher wrote is text, and odd shapes break no page.
    check(b.goto(url + "/#/repo/edge%2Fcases", "repo") == "ready", "edge")
    check(b.js("document.querySelector('#tags tbody tr "
               "td[data-label=Pulls]').innerText") == "0",
          "the tag __proto__: " + b.text("#tags"))
    check(b.goto(url + "/#/image/edge%2Fcases/__proto__", "image") ==
          "ready", "an image with an odd config: " + b.text("#main"))
    ann = b.text("table.annotations")
    check("<img src=x onerror=" in ann and "javascript:document" in ann,
          "annotations as text: " + ann)
    check("<b>RUN</b>" in b.text("#layers"), "history as text")
    check(b.count("#main img, #main b, #main a[href^=javascript]") == 0 and
          not b.js("document.body.dataset.pwned"), "no markup made")
    b.shot("edge")

    # An image: layers with history, config, annotations, referrers.
    check(b.goto(url + "/#/image/library%2Fapp/v1", "image") == "ready",
          "image")
    check(b.text("#digest") == v1, "image digest")
    check(b.count("#layers tbody tr") == 2, "two layers")
    layers = b.text("#layers")
    check("RUN build-step-0" in layers and "RUN build-step-1" in layers,
          "layer history: " + layers)
    cfg = b.text("table.config")
    check("/bin/app" in cfg and "linux/amd64" in cfg, "config: " + cfg)
    check("app v1" in b.text("table.labels"), "labels")
    check("https://example.com/app" in b.text("table.annotations"),
          "annotations")
    refs = b.text("#referrers")
    for kind in ("Signatures (1)", "SBOMs (1)", "Attestations (1)",
                 "application/spdx+json", "ui.test.kind=signature"):
        check(kind in refs, "referrers show %s: %s" % (kind, refs))
    host = url.split("//", 1)[1]
    pulls = b.js("[...document.querySelectorAll('#pull input')]"
                 ".map(i => i.value).join('\\n')")
    for cmd in ("docker pull %s/library/app:v1" % host,
                "podman pull %s/library/app:v1" % host,
                "skopeo copy docker://%s/library/app:v1 oci:app:v1" % host):
        check(cmd in pulls, "pull command %s: %s" % (cmd, pulls))
    b.click("#pull button")
    b.wait("document.querySelector('#pull button').textContent === "
           "'Copied'", "the copy button")
    b.shot("image")

    # An index: its platforms.
    check(b.goto(url + "/#/image/tools%2Fmulti/latest", "image") == "ready",
          "index")
    p = b.text("#platforms")
    check("linux/amd64" in p and "linux/arm64" in p, "platforms: " + p)
    b.shot("index")

    # A request that fails: the page says so.
    check(b.goto(url + "/#/image/library%2Fapp/nosuchtag", "image") ==
          "error", "a missing tag is an error")
    err = b.text(".error")
    check("404" in err and "MANIFEST_UNKNOWN" in err, "error: " + err)
    b.shot("error")

    # Deleting a tag: ask, confirm, the row goes.
    b.goto(url + "/#/repo/library%2Fapp", "repo")
    b.click("button.delete[data-tag='v2']")
    b.click("button.confirm")
    b.wait("document.querySelector('#deleted')", "the deletion")
    check(b.count("#tags tbody tr") == 1, "one tag left")
    b.shot("delete")

    # A phone: nothing wider than the screen, the table stacked.
    b.viewport(390, 844, True)
    b.goto(url + "/#/image/library%2Fapp/v1", "image")
    check(b.js("document.documentElement.scrollWidth") <= 390,
          "no sideways scrolling on a phone")
    check(b.js("getComputedStyle(document.querySelector('#layers thead'))"
               ".display") == "none", "tables stack on a phone")
    b.shot("phone", 1400)

    # bob logs in: he may read, not delete.
    b.viewport(1200, 860, False)
    check(b.goto(url + "/#/login", "login") == "ready", "the login page")
    b.type("#user", "bob")
    b.type("#pass", "pw-bob")
    b.click("form#login button[type=submit]")
    b.rendered("home")
    check("library/app" in b.text("#main"), "bob sees the repositories")
    check(b.text("#user-name") == "bob", "bob is shown logged in")
    # The search answers say bob may not delete (IsDeletable): no button.
    b.goto(url + "/#/repo/library%2Fapp", "repo")
    check(b.count("#tags tbody tr") == 1, "bob sees the tag")
    check(b.count("button.delete") == 0, "no delete button for bob")
    b.shot("repo-readonly")
    # bob stars and bookmarks it (zot's userprefs); home lists his bookmark.
    check(b.js("document.querySelector('#star').getAttribute('aria-pressed')")
          == "false", "not starred yet: " + b.text("#prefs"))
    b.click("#star")
    b.wait("document.querySelector('#star').getAttribute('aria-pressed') "
           "=== 'true'", "the star")
    b.click("#bookmark")
    b.wait("document.querySelector('#bookmark').getAttribute('aria-pressed') "
           "=== 'true'", "the bookmark")
    check(b.goto(url + "/#/", "home") == "ready", "home again")
    check("library/app" in b.text("#bookmarks"),
          "bob's bookmarks: " + b.text("#main"))
    b.shot("home-bookmarks")
    b.goto(url + "/#/repo/library%2Fapp", "repo")
    check("Starred · 1" in b.text("#star") and
          "Bookmarked" in b.text("#bookmark"),
          "kept by the registry: " + b.text("#prefs"))
    b.shot("repo-starred")
    check(not b.problems, "no CSP violation or exception: %s" % b.problems)
finally:
    b.close()
EOF
	fail "the pages (above)"
as_user alice:pw-alice
req GET /v2/library/app/tags/list
assert_json '.tags == ["v1"]' 'the tags left'
# Looking at v1 in the UI is no pull: still the two above.
req POST /v2/_zot/ext/search -H 'Content-Type: application/json' \
	--data '{"query": "{ ImageList(repo: \"library/app\") { Results { Tag DownloadCount } } }"}'
assert_json '.data.ImageList.Results == [{"Tag": "v1", "DownloadCount": 2}]' 'pulls of v1'
dray_stop

# --- without the search extension: the catalog on the home page, each
# tag's manifest and config read, and a refused DELETE shown as an error
dray_start_cfg -- 'extensions:
  ui:
    enable: true'
PYTHONPATH=$IT_DIR/lib python3 - "$URL" "$SHOTS" "$V1" <<'EOF' ||
import sys
from browser import Browser, check
url, shots, v1 = sys.argv[1:]
b = Browser(shots)
try:
    check(b.goto(url + "/#/login", "login") == "ready", "the login page")
    b.type("#user", "bob")
    b.type("#pass", "pw-bob")
    b.click("form#login button[type=submit]")
    check(b.rendered("home") == "ready", "home")
    home = b.text("#catalog")
    check("library/app" in home and "1 tags" in home, "catalog: " + home)
    b.shot("home-catalog")
    check(b.goto(url + "/#/repo/library%2Fapp", "repo") == "ready", "repo")
    t = b.text("#tags")
    check(v1[:19] in t and "linux/amd64" in t and "2025-11-02" in t,
          "the tag from its manifest and config: " + t)
    b.click("button.delete[data-tag='v1']")
    b.click("button.confirm")
    b.wait("document.querySelector('#status .error')", "the refusal")
    err = b.text("#status .error")
    check("403" in err and "DENIED" in err, "delete refused: " + err)
    check(b.count("button.delete") == 0, "delete buttons gone after")
    check(b.count("#tags tbody tr") == 1, "the tag is still listed")
    b.shot("delete-refused")
    check(not b.problems, "no CSP violation or exception: %s" % b.problems)
finally:
    b.close()
EOF
	fail "the pages without search (above)"
dray_stop
pass "ui pages in Chromium, screenshots in $SHOTS"
