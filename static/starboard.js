// Starboard's page script: small glue between the admin pages and htmx.

// Every htmx request that changes something carries the CSRF token the admin checks
// (the session's token, which the admin's CSRF cookie carries for scripts by design).
document.addEventListener("htmx:configRequest", (event) => {
  const match = document.cookie.match(/(?:^|;\s*)starlette_admin_csrftoken=([^;]+)/);
  if (match && event.detail.verb !== "get") {
    event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
  }
});

// A form marked data-sb-confirm posts only once the person confirms its question (a deletion).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.sbConfirm) return;
  if (!window.confirm(form.dataset.sbConfirm)) event.preventDefault();
});

// A form marked data-sb-submit-once posts once: a double click must not send it twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-sb-submit-once")) return;
  if (form.dataset.sbSent) event.preventDefault();
  form.dataset.sbSent = "true";
});
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sb-sent]")) delete form.dataset.sbSent;
});

// The admin's inline handlers, which the content policy does not run, as listeners
// (app/admin/script_nonces.py puts these attributes in their place).
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.hasAttribute("data-sb-go-to-value")) {
    window.location = select.value; // the page size menu: each option is its list's URL
  }
});
document.addEventListener("click", (event) => {
  if (!(event.target instanceof Element) || !event.target.closest("[data-sb-apply-columns]")) return;
  window.applyColumnVisibility?.(); // list.js, on list pages
});

// An inline row ticked "Remove" is not checked by the browser either: its empty required
// fields must not stop the form (templates/admin/inline_rows.html).
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.classList.contains("sb-inline-remove")) return;
  for (const field of box.closest("tr")?.querySelectorAll("input, select, textarea") ?? []) {
    if (field === box) continue;
    if (box.checked && field.required) {
      field.required = false;
      field.dataset.sbWasRequired = "true";
    } else if (!box.checked && field.dataset.sbWasRequired) {
      field.required = true;
      delete field.dataset.sbWasRequired;
    }
  }
});

// The library's action script shows the server's reason for a 400 only, and "Something went
// wrong!" for any other refusal; a delete refused because the row changed since the page
// showed it (409) must say so, so its answer reaches that script as the 400 it reads.
(() => {
  const libraryFetch = window.fetch.bind(window);
  window.fetch = async (resource, options) => {
    const response = await libraryFetch(resource, options);
    const address = String(resource instanceof Request ? resource.url : resource);
    if (response.status !== 409 || !/\/_api\/[^/]+\/(row-)?action\?/.test(address)) return response;
    return new Response(await response.text(), { status: 400, headers: response.headers });
  };
})();

// A list page's rows carry little (docs/architecture.md, "Page weight and speed"), and are made
// whole here as they are used, before the library's and Bootstrap's listeners see the event:
// - a row's link is given the list to come back to (`_origin`), which is not repeated in every
//   link of every row;
// - a row's action that asks first carries only its name: it takes the page's one copy of it
//   (a[data-sb-row-action]), its form holding the row's stamp (the row's data-sb-seen);
// - the list's delete of the selected rows takes the stamps of every row shown.
(() => {
  const back = () => window.location.pathname + window.location.search;

  function withOrigin(address) {
    const url = new URL(address, window.location.href);
    if (url.origin !== window.location.origin || url.searchParams.has("_origin")) return address;
    url.searchParams.set("_origin", back());
    return url.pathname + url.search + url.hash;
  }

  function withStamp(form, stamp) {
    const holder = document.createElement("template");
    holder.innerHTML = form; // the page's own markup, from the server
    const field = holder.content.querySelector('input[name="seen"]');
    if (field) field.setAttribute("value", stamp);
    return holder.innerHTML;
  }

  function stamps() {
    const shown = {};
    for (const row of document.querySelectorAll("tr[data-sa-pk][data-sb-seen]")) {
      shown[row.dataset.saPk] = row.dataset.sbSeen;
    }
    return JSON.stringify(shown);
  }

  function makeWhole(event) {
    if (!(event.target instanceof Element)) return;
    const row = event.target.closest("tr[data-sa-pk]");
    const link = event.target.closest("a[data-sa-name], a[href]");
    // A row whose first cell links to its record does not repeat the address for the
    // library's click-anywhere handler: it is taken from that link now.
    if (row && row.classList.contains("row-clickable") && !row.hasAttribute("data-sa-href")) {
      const record = row.querySelector("td:not([data-sa-hook]):not(.sb-row-actions) > a[href]");
      if (record) row.setAttribute("data-sa-href", record.getAttribute("href"));
    }
    if (row && row.hasAttribute("data-sa-href")) {
      row.setAttribute("data-sa-href", withOrigin(row.getAttribute("data-sa-href")));
    }
    if (!link) return;
    const name = link.getAttribute("data-sa-name");
    const whole = name && document.querySelector(`a[data-sb-row-action="${CSS.escape(name)}"]`);
    if (row && whole && !link.hasAttribute("data-sa-form")) {
      for (const { name: attribute, value } of whole.attributes) {
        if (/^data-(sa|bs)-/.test(attribute)) link.setAttribute(attribute, value);
      }
      const form = link.getAttribute("data-sa-form");
      link.setAttribute("data-sa-form", withStamp(form, row.dataset.sbSeen || ""));
    } else if (row && link.getAttribute("href") && link.getAttribute("href") !== "#") {
      link.setAttribute("href", withOrigin(link.getAttribute("href")));
    } else if (!row && name === "delete" && link.hasAttribute("data-sa-form")) {
      link.setAttribute("data-sa-form", withStamp(link.getAttribute("data-sa-form"), stamps()));
    }
  }

  // On the window, capturing: Bootstrap's own delegated listeners capture on the document.
  for (const kind of ["click", "auxclick", "keydown"]) {
    window.addEventListener(kind, (event) => {
      if (kind !== "keydown" || event.key === "Enter") makeWhole(event);
    }, true);
  }
})();

// Live notifications: one WebSocket per tab to /ws (docs/reference.md lists the frames).
// Frames become toasts, the bell's unread badge, and `sb:<type>` events on <body> that htmx
// fragments listen to, e.g. hx-trigger="sb:model from:body".
(() => {
  const HEARTBEAT_MS = 25_000; // a ping this often...
  const DEAD_AFTER_MS = 10_000; // ...and no frame this long after it: the connection is dead
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_CAP_MS = 30_000;
  const TOAST_MS = 10_000; // errors stay until closed
  const TOASTS_SHOWN = 5;
  const SEEN_KEPT = 1000;
  const LEVEL_COLOURS = { info: "blue", success: "green", warning: "yellow", error: "red" };

  function start() {
    const live = document.getElementById("sb-live");
    if (!live || live.dataset.sbStarted) return; // signed out, or already running
    live.dataset.sbStarted = "true";
    placeBell(live);
    const me = live.dataset.sbUser;
    const adminRoot = live.dataset.sbAdmin || "";
    const address = socketAddress(live.dataset.sbSocket || "/ws");
    // The newest notification this tab has, to resume after; unknown until the first frame
    // says (`unread` carries `newest` on connect) unless the page was rendered knowing it.
    let lastId = live.dataset.sbAfter ? Number(live.dataset.sbAfter) : null;
    let pageAfter = lastId ?? 0;
    const seen = new Set(); // ids shown, as channels may deliver out of id order
    let unread = Number(live.querySelector("[data-sb-unread]")?.dataset.sbUnread || 0);
    let socket = null;
    let attempt = 0; // failed connections in a row: the backoff's exponent
    let reconnectTimer = null;
    let heartbeatTimer = null;
    let lastFrameAt = 0;
    let catchingUp = false; // replayed notifications are counted in the `unread` frame already

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (socket) return;
      const ws = new WebSocket(address);
      socket = ws;
      ws.onopen = () => {
        catchingUp = true;
        // The server answers frames in order: the pong marks the end of the replay.
        if (lastId !== null) ws.send(JSON.stringify({ type: "resume", after: lastId }));
        ws.send(JSON.stringify({ type: "ping" }));
        // An edit form says which record it shows, for the others editing it (presence below).
        const editing = document.getElementById("sb-editing");
        if (editing) {
          const { sbEditingModel: model, sbEditingPk: pk } = editing.dataset;
          ws.send(JSON.stringify({ type: "editing", model, pk }));
        }
      };
      ws.onmessage = (event) => {
        lastFrameAt = Date.now();
        attempt = 0;
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        if (frame && typeof frame.type === "string") receive(frame);
      };
      ws.onclose = () => dropped(ws);
      ws.onerror = () => dropped(ws);
      clearInterval(heartbeatTimer);
      heartbeatTimer = setInterval(() => heartbeat(ws), HEARTBEAT_MS);
    }

    function heartbeat(ws) {
      if (ws !== socket || ws.readyState !== WebSocket.OPEN) return;
      const sentAt = Date.now();
      ws.send(JSON.stringify({ type: "ping" }));
      setTimeout(() => {
        if (ws === socket && lastFrameAt < sentAt) dropped(ws); // no pong: a dead link
      }, DEAD_AFTER_MS);
    }

    function dropped(ws) {
      if (ws !== socket) return; // an old socket's late event
      socket = null;
      document.body.dataset.sbSocket = "closed";
      clearInterval(heartbeatTimer);
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
      scheduleReconnect();
    }

    function scheduleReconnect() {
      if (reconnectTimer) return;
      // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** attempt);
      attempt += 1;
      reconnectTimer = setTimeout(connect, ceiling / 2 + (Math.random() * ceiling) / 2);
    }

    function reconnectNow() {
      // Back online or awake: reconnect at once, or check at once that the socket still works.
      attempt = 0;
      if (!socket) connect();
      else heartbeat(socket);
    }

    function receive(frame) {
      if (frame.type === "notification") {
        if (typeof frame.id !== "number" || frame.id <= pageAfter || seen.has(frame.id)) return;
        seen.add(frame.id);
        if (seen.size > SEEN_KEPT) seen.delete(seen.values().next().value);
        lastId = Math.max(lastId, frame.id);
        toast(frame);
        if (!catchingUp) setUnread(unread + 1);
      } else if (frame.type === "unread") {
        if (lastId === null && typeof frame.newest === "number") {
          lastId = pageAfter = frame.newest;
        }
        setUnread(Number(frame.count) || 0);
      } else if (frame.type === "pong") {
        catchingUp = false;
        document.body.dataset.sbSocket = "open"; // caught up and live
      } else if (frame.type === "model") {
        modelChanged(frame);
      } else if (frame.type === "error") {
        console.warn("starboard socket:", frame.detail);
      }
      document.body.dispatchEvent(new CustomEvent(`sb:${frame.type}`, { detail: frame }));
    }

    function setUnread(count) {
      const changed = count !== unread;
      unread = Math.max(0, count);
      for (const badge of document.querySelectorAll("[data-sb-unread]")) {
        badge.dataset.sbUnread = String(unread);
        badge.textContent = unread > 99 ? "99+" : String(unread);
        badge.hidden = unread === 0;
        badge.closest("a")?.setAttribute("aria-label", `Notifications: ${unread} unread`);
      }
      if (changed) {
        document.body.dispatchEvent(new CustomEvent("sb:badge", { detail: { count: unread } }));
      }
    }

    function toast(frame) {
      const container = document.getElementById("sb-toasts");
      if (!container) return;
      const level = LEVEL_COLOURS[frame.level] ? frame.level : "info";
      const item = element("div", `toast show sb-toast sb-toast-${level}`);
      item.setAttribute("role", level === "error" ? "alert" : "status");
      item.dataset.notificationId = String(frame.id);
      const header = element("div", "toast-header");
      header.append(
        element("span", `status-dot bg-${LEVEL_COLOURS[level]} me-2`),
        element("strong", "me-auto sb-toast-title", frame.title),
        element("small", "text-secondary", level),
      );
      const close = element("button", "btn-close ms-2");
      close.type = "button";
      close.setAttribute("aria-label", "Close");
      close.addEventListener("click", () => item.remove());
      header.append(close);
      item.append(header);
      const link = safeLink(frame.link);
      if (frame.body || link) {
        const body = element("div", "toast-body", frame.body || "");
        if (link) {
          const anchor = element("a", "d-block mt-1", "Open");
          anchor.href = link;
          body.append(anchor);
        }
        item.append(body);
      }
      container.append(item);
      while (container.children.length > TOASTS_SHOWN) container.firstElementChild.remove();
      if (level !== "error") setTimeout(() => item.remove(), TOAST_MS);
    }

    function modelChanged(frame) {
      if (frame.by && frame.by === me) return; // one's own change needs no notice
      if (window.location.pathname !== `${adminRoot}/${frame.model}/list`) return;
      const alerts = document.getElementById("alertContainer");
      if (!alerts) return;
      const verb = { create: "added", edit: "edited", delete: "deleted" }[frame.action] || "changed";
      let notice = alerts.querySelector("[data-sb-model-notice]");
      if (!notice) {
        notice = element("div", "alert alert-info alert-dismissible mb-2 sb-model-notice");
        notice.setAttribute("role", "status");
        notice.dataset.sbModelNotice = "";
        alerts.prepend(notice);
      }
      const who = frame.by || "someone";
      notice.replaceChildren(
        document.createTextNode(`${frame.model} changed by ${who} (${verb} #${frame.pk}) — `),
        reloadLink(),
      );
      const close = element("a", "btn-close");
      close.setAttribute("aria-label", "Close");
      close.setAttribute("data-bs-dismiss", "alert");
      notice.append(close);
    }

    function reloadLink() {
      const anchor = element("a", "alert-link", "reload");
      anchor.href = window.location.href;
      anchor.addEventListener("click", (event) => {
        event.preventDefault();
        window.location.reload(); // also when the address ends in a #fragment
      });
      return anchor;
    }

    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reconnectNow();
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) reconnectNow(); // back from the back-forward cache
    });
    connect();
  }

  function placeBell(live) {
    // The layout's navbar has no slot for plugins; the bell goes next to the user menu.
    const bell = live.querySelector(".sb-bell-item");
    if (!bell) return;
    const spots = document.querySelectorAll(
      "header.navbar .navbar-nav.order-md-last, aside.navbar .navbar-nav.d-lg-none",
    );
    spots.forEach((spot, index) => spot.prepend(index === 0 ? bell : bell.cloneNode(true)));
  }

  function socketAddress(path) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${path}`;
  }

  function safeLink(link) {
    return typeof link === "string" && /^(\/(?!\/)|https?:\/\/)/.test(link) ? link : null;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// ---------------------------------------------------------------------------------------------
// Presence on edit forms: `presence` frames ({tab, user, state}) about the record this page edits
// arrive as `sb:presence` events; the line above the form names who else has it open. A tab
// that says `left`, or is not heard of for a while (its server went away), is taken off.
(() => {
  const FORGOTTEN_AFTER_MS = 35_000; // the server says "still editing" every 10 s
  const others = new Map(); // tab -> {user, heardAt}

  function show(line) {
    const me = document.getElementById("sb-live")?.dataset.sbUser;
    const noun = line.dataset.sbEditingNoun || "record";
    const names = [...new Set([...others.values()].map((other) => other.user))];
    const people = names.filter((name) => name !== me);
    const parts = [];
    if (people.length) {
      const last = people.at(-1);
      const who = people.length === 1 ? last : `${people.slice(0, -1).join(", ")} and ${last}`;
      parts.push(`${who} ${people.length === 1 ? "is" : "are"} editing this ${noun}.`);
    }
    if (names.includes(me)) parts.push(`You have this ${noun} open in another tab too.`);
    line.textContent = parts.join(" "); // names are text, never markup
    line.hidden = parts.length === 0;
  }

  function start() {
    const line = document.getElementById("sb-editing");
    if (!line) return;
    document.body.addEventListener("sb:presence", (event) => {
      const frame = event.detail || {};
      if (typeof frame.tab !== "string" || typeof frame.user !== "string") return;
      if (frame.state === "left") others.delete(frame.tab);
      else others.set(frame.tab, { user: frame.user, heardAt: Date.now() });
      show(line);
    });
    setInterval(() => {
      for (const [tab, other] of others) {
        if (Date.now() - other.heardAt > FORGOTTEN_AFTER_MS) others.delete(tab);
      }
      show(line);
    }, 5000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// ---------------------------------------------------------------------------------------------
// Live settings: the /admin/settings fields and the maintenance banner on every page.
// `settings` frames arrive as `sb:settings` events ({keys, version}); each field block and the
// banner have hx-trigger="sb:refresh" and are told here, since htmx trigger filters would need
// eval, which the content policy refuses.
(() => {
  const BANNER_KEYS = ["MAINTENANCE_MODE", "MAINTENANCE_MESSAGE", "STATUS_PAGE_URL"];

  // A field answers a bad value with 422 and a lost race with 409: both are blocks to show.
  if (window.htmx) {
    htmx.config.responseHandling = [
      { code: "409|422", swap: true, error: false },
      ...htmx.config.responseHandling,
    ];
  }

  // Typing in a field marks it dirty: a live change then offers to reload instead of replacing.
  function markDirty(event) {
    const input = event.target;
    if (!(input instanceof Element) || input.getAttribute("name") !== "value") return;
    const block = input.closest("[data-sb-setting]");
    if (block) block.dataset.sbDirty = "true";
  }
  document.addEventListener("input", markDirty);
  document.addEventListener("change", markDirty);

  function settingsChanged(event) {
    const frame = event.detail || {};
    const keys = Array.isArray(frame.keys) ? frame.keys : [];
    const version = Number(frame.version) || 0;
    for (const key of keys) {
      for (const block of document.querySelectorAll(`[data-sb-setting="${CSS.escape(key)}"]`)) {
        if (Number(block.dataset.sbVersion) >= version) continue; // shows this change already
        // A save in flight answers with the latest value itself.
        if (block.querySelector(".htmx-request")) continue;
        if (block.dataset.sbDirty) {
          block.querySelector("[data-sb-stale]")?.removeAttribute("hidden");
        } else {
          htmx.trigger(block, "sb:refresh");
        }
      }
    }
    const banner = document.getElementById("sb-maintenance");
    if (banner && keys.some((key) => BANNER_KEYS.includes(key))) htmx.trigger(banner, "sb:refresh");
  }

  function placeBanner() {
    // The layout has no block for it: on top of the page's content column, under the navbar.
    const banner = document.getElementById("sb-maintenance");
    const column = document.querySelector(".page-wrapper");
    if (banner && column && banner.parentElement !== column) column.prepend(banner);
  }

  function start() {
    placeBanner();
    if (window.htmx) document.body.addEventListener("sb:settings", settingsChanged);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// ---------------------------------------------------------------------------------------------
// Scheduled jobs: /admin/jobs, a job's page and a run's page follow `job` frames
// ({name, run_id, status, progress, message}) arriving as `sb:job` events. A block showing a
// run moves its progress bar in place; when the run's status moves on, the block is re-fetched
// (hx-trigger="sb:refresh", told here: htmx trigger filters would need eval). A block rendered
// before frames that arrived meanwhile (e.g. the answer to "Run now") is re-fetched once shown.
(() => {
  const LOG_REFRESH_MS = 1000; // a running run's page fetches its log at most this often
  const RANK = { queued: 0, running: 1 }; // any other status is final
  const runs = new Map(); // run id → the furthest frame seen of it
  const jobs = new Map(); // job name → the furthest frame of its newest started run
  const newest = new Map(); // job name → its newest run id, queued ones included
  const historyAsked = new Map(); // job name → the run id its history was last re-fetched for

  const rank = (status) => RANK[status] ?? 2;

  function remember(frame) {
    const id = Number(frame.run_id);
    const known = runs.get(id);
    if (!known || rank(frame.status) >= rank(known.status)) runs.set(id, frame);
    newest.set(frame.name, Math.max(id, newest.get(frame.name) || 0));
    if (frame.status === "queued") return; // the list and summary show started runs only
    const job = jobs.get(frame.name);
    const jobId = job ? Number(job.run_id) : 0;
    if (id > jobId || (id === jobId && rank(frame.status) >= rank(job.status))) {
      jobs.set(frame.name, frame);
    }
  }

  function staleRun(block) {
    const frame = runs.get(Number(block.dataset.sbRun));
    return Boolean(frame) && rank(frame.status) > rank(block.dataset.sbStatus);
  }

  function staleJob(block) {
    const frame = jobs.get(block.dataset.sbJob);
    if (!frame) return false;
    const shown = Number(block.dataset.sbLastRun || 0);
    const id = Number(frame.run_id);
    return id > shown || (id === shown && rank(frame.status) > rank(block.dataset.sbStatus));
  }

  function staleHistory(block) {
    const name = block.dataset.sbRuns;
    const id = newest.get(name);
    if (!id || !block.hasAttribute("data-sb-first-page")) return false;
    if (block.querySelector(`[data-sb-run="${id}"]`) || id <= (historyAsked.get(name) || 0)) {
      return false;
    }
    historyAsked.set(name, id); // once per run: a purged run must not be asked for forever
    return true;
  }

  function refresh(block) {
    if (window.htmx && block.isConnected) htmx.trigger(block, "sb:refresh");
  }

  function refreshSoon(block) {
    if (block.dataset.sbRefreshPending) return;
    block.dataset.sbRefreshPending = "true";
    setTimeout(() => {
      delete block.dataset.sbRefreshPending;
      refresh(block);
    }, LOG_REFRESH_MS);
  }

  function showProgress(block, frame) {
    if (typeof frame.progress === "number") {
      const percent = Math.round(Math.min(1, Math.max(0, frame.progress)) * 100);
      for (const bar of block.querySelectorAll("[data-sb-progress]")) {
        bar.setAttribute("aria-valuenow", String(percent));
        const fill = bar.querySelector("[data-sb-progress-bar]");
        if (fill) fill.style.width = `${percent}%`;
      }
    }
    if (typeof frame.message === "string") {
      for (const line of block.querySelectorAll("[data-sb-progress-message]")) {
        line.textContent = frame.message;
      }
    }
  }

  function jobChanged(event) {
    const frame = event.detail || {};
    if (typeof frame.name !== "string" || typeof frame.run_id !== "number") return;
    remember(frame);
    const runId = String(frame.run_id);
    // A run's row in a history, or its own page.
    for (const block of document.querySelectorAll(`[data-sb-run="${runId}"]`)) {
      if (staleRun(block)) {
        refresh(block);
      } else if (block.dataset.sbStatus === frame.status) {
        showProgress(block, frame);
        if (block.hasAttribute("data-sb-follow-log")) refreshSoon(block);
      }
    }
    // A job's row in the list, or its page's summary: they show its latest started run.
    for (const block of document.querySelectorAll(`[data-sb-job="${CSS.escape(frame.name)}"]`)) {
      if (staleJob(block)) {
        refresh(block);
      } else if (block.dataset.sbLastRun === runId && block.dataset.sbStatus === frame.status) {
        showProgress(block, frame);
      }
    }
    // A job's history that does not show this run yet.
    for (const block of document.querySelectorAll(`[data-sb-runs="${CSS.escape(frame.name)}"]`)) {
      if (staleHistory(block)) refresh(block);
    }
  }

  function shown(event) {
    // Content htmx just put in the page may predate frames that came while it was on its way.
    const root = event.target;
    if (!(root instanceof Element)) return;
    const blocks = [root, ...root.querySelectorAll("[data-sb-run], [data-sb-job], [data-sb-runs]")];
    for (const block of blocks) {
      if (
        (block.hasAttribute("data-sb-run") && staleRun(block)) ||
        (block.hasAttribute("data-sb-job") && staleJob(block)) ||
        (block.hasAttribute("data-sb-runs") && staleHistory(block))
      ) {
        refresh(block);
      }
    }
  }

  function start() {
    document.body.addEventListener("sb:job", jobChanged);
    document.body.addEventListener("htmx:load", shown);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// Global search: the box goes into the header (the layout has no slot for it); Ctrl-K or ⌘K
// focuses it; its matches, fetched by htmx as one types, are walked with the arrow keys.
(() => {
  function hits(box) {
    return [...box.querySelectorAll("[data-sb-search-hit]")];
  }

  function show(box, open) {
    const results = box.querySelector("#sb-search-results");
    results.classList.toggle("show", open && results.childElementCount > 0);
  }

  function start() {
    const box = document.getElementById("sb-search");
    if (!box || box.dataset.sbStarted) return;
    box.dataset.sbStarted = "true";
    const spot = document.querySelector("header.navbar .navbar-nav.order-md-last");
    if (spot) spot.before(box);
    box.hidden = false;
    const input = box.querySelector("input[name=q]");
    box.addEventListener("htmx:afterSwap", () => show(box, document.activeElement === input));
    input.addEventListener("focus", () => show(box, true));
    box.addEventListener("focusout", (event) => {
      if (!box.contains(event.relatedTarget)) show(box, false);
    });
    box.addEventListener("keydown", (event) => {
      const all = hits(box);
      const at = all.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!all.length) return;
        const step = event.key === "ArrowDown" ? 1 : -1;
        const next = at === -1 ? (step === 1 ? 0 : all.length - 1) : at + step;
        if (next < 0 || next >= all.length) input.focus();
        else all[next].focus();
      } else if (event.key === "Escape") {
        show(box, false);
        input.focus();
      }
    });
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
        event.preventDefault();
        input.focus();
        input.select();
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// ---------------------------------------------------------------------------------------------
// The dashboard (/admin/): each card names the frames it follows in data-sb-refresh-on
// (`model`, `model:<key>`, `job-finished`, `unread`). A matching frame has htmx fetch the card
// again (hx-trigger="sb:refresh"), at most once a second per card; a frame that comes within
// that second is not dropped: the card is fetched once more when the second is up.
(() => {
  const CARD_REFRESH_MS = 1000;
  const FINISHED = new Set(["succeeded", "failed", "timed_out", "abandoned", "skipped"]);
  const askedAt = new Map(); // card name -> when it was last fetched
  const waiting = new Map(); // card name -> the timer of its next fetch

  const BUSY_RETRY_MS = 100;

  function refresh(name) {
    const card = document.querySelector(`[data-sb-card="${CSS.escape(name)}"]`);
    if (card?.classList.contains("htmx-request")) {
      // htmx drops a trigger while the card's last fetch is on its way: ask once it is back.
      waiting.set(name, setTimeout(() => refresh(name), BUSY_RETRY_MS));
      return;
    }
    waiting.delete(name);
    askedAt.set(name, Date.now());
    if (card) htmx.trigger(card, "sb:refresh");
  }

  function follow(keys) {
    for (const card of document.querySelectorAll("[data-sb-card][data-sb-refresh-on]")) {
      const wanted = card.dataset.sbRefreshOn.split(" ");
      if (!keys.some((key) => wanted.includes(key))) continue;
      const name = card.dataset.sbCard;
      if (waiting.has(name)) continue; // the fetch already waiting will show this change too
      const wait = (askedAt.get(name) ?? 0) + CARD_REFRESH_MS - Date.now();
      if (wait <= 0) refresh(name);
      else waiting.set(name, setTimeout(() => refresh(name), wait));
    }
  }

  function start() {
    if (!window.htmx || !document.querySelector("[data-sb-card]")) return; // not the dashboard
    document.body.addEventListener("sb:model", (event) => {
      follow(["model", `model:${event.detail.model}`]);
    });
    document.body.addEventListener("sb:job", (event) => {
      if (FINISHED.has(event.detail.status)) follow(["job-finished"]);
    });
    document.body.addEventListener("sb:badge", () => follow(["unread"]));
    // The second is counted from when the fetch really starts: htmx may start it a little
    // after the trigger, and the next one must still wait its whole second.
    document.body.addEventListener("htmx:beforeRequest", (event) => {
      const name = event.detail.elt?.dataset?.sbCard;
      if (name) askedAt.set(name, Date.now());
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// ---------------------------------------------------------------------------------------------
// The time zone proposal (templates/time_zone/proposal.html): shown to a user who has no zone of
// their own when the browser's differs from the one the pages use; "Use it" posts the browser's.
(() => {
  function start() {
    const form = document.getElementById("sb-time-zone");
    if (!form) return;
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone || zone === form.dataset.sbTimeZone) return;
    for (const name of form.querySelectorAll("[data-sb-browser-zone]")) name.textContent = zone;
    form.querySelector("[data-sb-use-zone]").value = zone;
    const column = document.querySelector(".page-wrapper");
    if (column) column.prepend(form);
    form.hidden = false;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// A list's import of a big file answers 202 with its run's page (a dry run, then Apply there):
// the import dialog goes to that page instead of showing a preview.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.jQuery) return;
  window.jQuery(document).on("ajaxSuccess", (_event, xhr) => {
    const answer = xhr.responseJSON;
    if (xhr.status === 202 && answer && typeof answer.url === "string" && answer.url.startsWith("/")) {
      window.location.assign(answer.url);
    }
  });
});
