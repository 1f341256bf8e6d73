/* supportkit agent console: conversations (escalated first, refreshed every few seconds), take over,
 * reply as the agent, hand back; rated answers with filters and export; a dashboard from /v1/dashboard.
 * Needs an admin key (kept in sessionStorage, this tab only). No dependencies. */
(function () {
  "use strict";
  var KEY = "supportkit.admin-key";
  var REFRESH_MS = 2000;
  var $ = function (id) { return document.getElementById(id); };
  var selected = null, detailSeen = "", keysRequired = true;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function key() { return sessionStorage.getItem(KEY); }
  function when(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
  function showError(message) { $("error").textContent = message; $("error").hidden = !message; }

  async function api(path, options) {
    options = options || {};
    var headers = { "Content-Type": "application/json" };
    if (key()) headers.Authorization = "Bearer " + key();
    var r = await fetch(path, { method: options.method || "GET", headers: headers, body: options.body });
    if (r.status === 401 || r.status === 403) {
      sessionStorage.removeItem(KEY);
      $("key-form").hidden = false;
      throw new Error("This console needs an admin key.");
    }
    if (!r.ok) {
      var detail = "";
      try { detail = (await r.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(detail || ("the server answered " + r.status));
    }
    showError("");
    return options.raw ? r : r.json();
  }

  /* --- conversations ------------------------------------------------------------------------- */
  async function refreshList() {
    var list = await api("/v1/conversations?limit=100");
    var ul = $("conversations");
    var focused = document.activeElement && document.activeElement.getAttribute("data-id");
    ul.textContent = "";
    $("conv-count").textContent = "(" + list.data.length + ")";
    list.data.forEach(function (c) {
      var cls = c.status === "agent" ? "c-agent" : c.escalated ? "c-escalated" : "";
      var li = el("li", { cls: cls, tabindex: "0", "data-id": c.id, "aria-current": String(c.id === selected) }, [
        c.escalated ? el("span", { cls: "c-badge c-red", text: "escalated: " + (c.reason || "yes") }) : null,
        c.status === "agent" ? el("span", { cls: "c-badge c-green", text: "taken over" + (c.agent ? " by " + c.agent : "") }) : null,
        el("span", { cls: "c-badge", text: c.message_count + " messages" }),
        el("div", { text: (c.user ? c.user + " · " : "") + c.id }),
        el("div", { cls: "c-muted", text: when(c.updated_at) }),
        c.handoff ? el("div", { cls: "c-muted", text: c.handoff.split("\n").slice(0, 2).join(" · ") }) : null,
      ]);
      li.addEventListener("click", function () { open(c.id); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(c.id); } });
      ul.appendChild(li);
      if (focused === c.id) li.focus();
    });
  }

  async function open(id) {
    selected = id; detailSeen = "";
    await refreshDetail();
    refreshList().catch(function (e) { showError(e.message); });
  }

  async function refreshDetail() {
    if (!selected) return;
    var c = await api("/v1/conversations/" + encodeURIComponent(selected));
    var fingerprint = c.status + "|" + c.messages.length;
    if (fingerprint === detailSeen) return;  // unchanged: keep the agent's half-typed reply
    detailSeen = fingerprint;
    var box = $("detail");
    var draft = box.querySelector("textarea") ? box.querySelector("textarea").value : "";
    box.textContent = "";
    box.appendChild(el("h2", { text: "Conversation " + c.id }));
    box.appendChild(el("p", {}, [
      el("span", { cls: "c-badge", text: "status: " + c.status }),
      c.escalated ? el("span", { cls: "c-badge c-red", text: "escalated" }) : null,
      c.user ? el("span", { cls: "c-badge", text: "customer: " + c.user }) : null]));
    var handoff = c.messages.filter(function (m) { return m.meta && m.meta.handoff; }).pop();
    if (handoff) box.appendChild(el("div", { cls: "c-handoff", "aria-label": "Hand-off summary", text: handoff.meta.handoff }));
    var msgs = el("div", { cls: "c-msgs" });
    c.messages.forEach(function (m) {
      var who = m.role === "user" ? "Customer" : m.role === "agent" ? "Agent" + (m.meta && m.meta.agent ? " (" + m.meta.agent + ")" : "") : "Assistant";
      var extra = m.meta && m.meta.escalation ? " — escalated: " + m.meta.escalation : "";
      msgs.appendChild(el("div", { cls: "c-msg c-" + m.role }, [el("b", { text: who + extra + " · " + when(m.created_at) }), m.content]));
    });
    box.appendChild(msgs);
    var actions = el("div", { cls: "c-actions" });
    if (c.status !== "agent") actions.appendChild(el("button", { type: "button", id: "takeover", cls: "c-primary", text: "Take over",
      onclick: function () { act("takeover"); } }));
    else actions.appendChild(el("button", { type: "button", id: "handback", text: "Hand back to the assistant",
      onclick: function () { act("handback"); } }));
    box.appendChild(actions);
    var reply = el("textarea", { id: "reply", rows: "3", "aria-label": "Reply to the customer", placeholder: "Reply as the agent (Ctrl+Enter sends)" });
    reply.value = draft;
    var form = el("form", { cls: "c-reply" }, [reply, el("button", { type: "submit", id: "send-reply", cls: "c-primary", text: "Send reply" })]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = reply.value.trim();
      if (!text) return;
      api("/v1/conversations/" + encodeURIComponent(selected) + "/agent_reply", { method: "POST", body: JSON.stringify({ content: text }) })
        .then(function () { reply.value = ""; detailSeen = ""; return refreshDetail(); })
        .catch(function (err) { showError(err.message); });
    });
    reply.addEventListener("keydown", function (e) { if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); form.requestSubmit(); } });
    box.appendChild(form);
    msgs.scrollTop = msgs.scrollHeight;
  }

  function act(what) {
    api("/v1/conversations/" + encodeURIComponent(selected) + "/" + what, { method: "POST" })
      .then(function () { detailSeen = ""; return Promise.all([refreshDetail(), refreshList()]); })
      .catch(function (err) { showError(err.message); });
  }

  /* --- feedback ------------------------------------------------------------------------------ */
  function feedbackQuery() {
    var q = [], rating = $("f-rating").value, intent = $("f-intent").value.trim(), adapter = $("f-adapter").value.trim();
    if (rating) q.push("rating=" + rating);
    if (intent) q.push("intent=" + encodeURIComponent(intent));
    if (adapter) q.push("adapter=" + (adapter === "-" ? "" : encodeURIComponent(adapter)));
    return q.join("&");
  }

  async function refreshFeedback() {
    var list = await api("/v1/feedback?limit=200&" + feedbackQuery());
    var body = $("feedback");
    body.textContent = "";
    list.data.forEach(function (f) {
      var note = [f.correction ? "Correction: " + f.correction : "", f.comment ? "Comment: " + f.comment : ""].filter(Boolean).join("\n");
      body.appendChild(el("tr", { "data-rating": f.rating }, [
        el("td", { text: when(f.created_at) }), el("td", { text: f.rating === "up" ? "up" : "down" }),
        el("td", { text: f.question || "" }), el("td", { text: f.answer, cls: "c-pre" }), el("td", { text: note, cls: "c-pre" }),
        el("td", { text: (f.meta && f.meta.adapter) || "base" }), el("td", { text: (f.meta && f.meta.intent) || "" })]));
    });
    if (!list.data.length) body.appendChild(el("tr", {}, [el("td", { colspan: "7", cls: "c-muted", text: "No rated answers match." })]));
  }

  async function exportFeedback() {
    var format = $("export-format").value, r;
    if (format !== "json") {
      try { r = await api("/v1/feedback/export?format=" + format, { raw: true }); }
      catch (e) { showError("Export as " + format + " is not available on this server (" + e.message + "); exporting JSON."); format = "json"; }
    }
    if (format === "json") r = await api("/v1/feedback?limit=500&" + feedbackQuery(), { raw: true });
    var blob = await r.blob();
    var a = el("a", { href: URL.createObjectURL(blob), download: "feedback-" + format + (format === "json" ? ".json" : ".jsonl") });
    document.body.appendChild(a); a.click(); a.remove();
  }

  /* --- dashboard ----------------------------------------------------------------------------- */
  function fmt(v, unit) { return v === null || v === undefined ? "–" : unit === "%" ? Math.round(v * 100) + " %" : v.toFixed(2) + " " + unit; }
  function table(id, head, rows) {
    var t = $(id); t.textContent = "";
    t.appendChild(el("tr", {}, head.map(function (h) { return el("th", { text: h }); })));
    rows.forEach(function (r) { t.appendChild(el("tr", {}, r.map(function (v) { return el("td", { text: String(v) }); }))); });
    if (!rows.length) t.appendChild(el("tr", {}, [el("td", { colspan: String(head.length), cls: "c-muted", text: "none yet" })]));
  }
  function chart(series, windowS) {
    var NS = "http://www.w3.org/2000/svg", W = 600, H = 160, pad = 24;
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H); svg.setAttribute("width", "100%"); svg.setAttribute("role", "img");
    var max = Math.max(1, Math.max.apply(null, series.map(function (b) { return b.answers; })));
    var bw = (W - pad) / series.length;
    svg.setAttribute("aria-label", "Answers per interval, at most " + max);
    function rect(x, y, w, h, fill, title) {
      var r = document.createElementNS(NS, "rect");
      r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", w); r.setAttribute("height", h); r.setAttribute("fill", fill);
      var t = document.createElementNS(NS, "title"); t.textContent = title; r.appendChild(t);
      svg.appendChild(r);
    }
    series.forEach(function (b, i) {
      var h = (H - pad) * b.answers / max, he = (H - pad) * b.escalations / max, x = pad + i * bw + 2;
      rect(x, H - pad - h, bw - 4, h, "#2457c5", b.answers + " answers from " + new Date(b.start * 1000).toLocaleTimeString());
      if (he) rect(x + (bw - 4) / 4, H - pad - he, (bw - 4) / 2, he, "#d33", b.escalations + " escalations");
    });
    var label = document.createElementNS(NS, "text");
    label.setAttribute("x", 2); label.setAttribute("y", 12); label.setAttribute("font-size", "11"); label.textContent = String(max);
    svg.appendChild(label);
    var axis = document.createElementNS(NS, "text");
    axis.setAttribute("x", pad); axis.setAttribute("y", H - 6); axis.setAttribute("font-size", "11");
    axis.textContent = "← " + (windowS >= 86400 ? "24 h" : "60 min") + " ago · now →";
    svg.appendChild(axis);
    $("chart").textContent = ""; $("chart").appendChild(svg);
  }
  async function refreshDashboard() {
    var windowS = Number($("d-window").value);
    var d = await api("/v1/dashboard?window=" + windowS);
    var chatRequests = Object.keys(d.http).filter(function (k) { return k.indexOf("/v1/chat/completions") === 0; })
      .reduce(function (n, k) { return n + d.http[k]; }, 0);
    var cards = [
      ["Answers", String(d.answers)], ["Chat requests (this process)", String(chatRequests)],
      ["Latency p50 / p95", fmt(d.latency_s.p50, "s") + " / " + fmt(d.latency_s.p95, "s")],
      ["Time to first token p50 / p95", fmt(d.ttft_s.p50, "s") + " / " + fmt(d.ttft_s.p95, "s")],
      ["Escalation rate", fmt(d.escalation.rate, "%")],
      ["Grounded / quoted", d.grounding.grounded + " / " + d.grounding.quoted],
      ["Hand-offs (low groundedness)", String(d.grounding.handoff)],
      ["Thumbs up", fmt(d.thumbs_up.rate, "%")]];
    $("cards").textContent = "";
    cards.forEach(function (c) { $("cards").appendChild(el("div", { cls: "c-card" }, [el("span", { cls: "c-muted", text: c[0] }), el("b", { text: c[1] })])); });
    chart(d.series, windowS);
    table("reasons", ["Reason", "Count"], Object.keys(d.escalation.reasons).map(function (k) { return [k, d.escalation.reasons[k]]; }));
    function rates(o) { return Object.keys(o).map(function (k) { return [k || "base", o[k].up, o[k].down, fmt(o[k].rate, "%")]; }); }
    table("by-adapter", ["Adapter", "Up", "Down", "Rate"], rates(d.thumbs_up.by_adapter));
    table("by-intent", ["Intent", "Up", "Down", "Rate"], rates(d.thumbs_up.by_intent));
  }

  /* --- tabs, refresh loop, key --------------------------------------------------------------- */
  var views = { conversations: function () { return Promise.all([refreshList(), refreshDetail()]); },
    feedback: refreshFeedback, dashboard: refreshDashboard };
  var current = "conversations";
  function refresh() { if (key() || !keysRequired) views[current]().catch(function (e) { showError(e.message); }); }
  function select(name) {
    current = name;
    Object.keys(views).forEach(function (v) {
      $("tab-" + v).setAttribute("aria-selected", String(v === name));
      $("view-" + v).hidden = v !== name;
    });
    refresh();
  }
  Object.keys(views).forEach(function (v) { $("tab-" + v).addEventListener("click", function () { select(v); }); });
  $("feedback-filters").addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
  $("export").addEventListener("click", function () { exportFeedback().catch(function (e) { showError(e.message); }); });
  $("d-window").addEventListener("change", refresh);
  $("key-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!$("key-input").value.trim()) return;
    sessionStorage.setItem(KEY, $("key-input").value.trim());
    $("key-input").value = ""; $("key-form").hidden = true;
    refresh();
  });
  $("forget-key").addEventListener("click", function () { sessionStorage.removeItem(KEY); $("key-form").hidden = false; });

  fetch("/chat-config.json").then(function (r) { return r.json(); }).then(function (cfg) {
    keysRequired = cfg.keys_required;
    if (keysRequired && !key()) { $("key-form").hidden = false; $("key-input").focus(); }
    else refresh();
  }).catch(function () { showError("The server could not be reached."); });
  setInterval(function () { if (current !== "feedback") refresh(); }, REFRESH_MS);
})();
