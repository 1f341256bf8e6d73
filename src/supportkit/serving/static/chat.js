/* supportkit customer chat: streams answers from /v1/chat/completions (server-sent events read with
 * fetch + ReadableStream), shows cited articles, hand-off notices and the agent's replies, thumbs up/down.
 * No build step, no dependencies. SupportChat.mount(element, {base, key}) puts it in any element. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /* Plain text -> paragraphs, line breaks and lists, built with textContent (never HTML from the model). */
  function renderText(target, text) {
    target.textContent = "";
    var lines = String(text).replace(/\r/g, "").split("\n");
    var list = null, para = null;
    lines.forEach(function (line) {
      var bullet = /^\s*(?:[-*•])\s+(.*)$/.exec(line), numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        var kind = bullet ? "UL" : "OL";
        if (!list || list.tagName !== kind) { list = el(kind.toLowerCase()); target.appendChild(list); }
        list.appendChild(el("li", { text: (bullet || numbered)[1] }));
        para = null;
        return;
      }
      list = null;
      if (!line.trim()) { para = null; return; }
      if (para) { para.appendChild(document.createElement("br")); para.appendChild(document.createTextNode(line)); }
      else { para = el("p", { text: line }); target.appendChild(para); }
    });
  }

  function mount(root, options) {
    options = options || {};
    var base = (options.base || "").replace(/\/$/, "");
    var store = window.localStorage;
    var idKey = "supportkit.conversation." + (base || location.origin);
    var keyKey = "supportkit.key." + (base || location.origin);
    var cfg = { model: "default", keys_required: false, browser_key: null };
    var key = options.key || null;
    var busy = false, lastQuestion = null, lastMessageId = 0, pollToken = 0;

    root.classList.add("sk-root");
    var log = el("div", { cls: "sk-log", role: "log", "aria-label": "Conversation", tabindex: "0" });
    var errorText = el("span");
    var retry = el("button", { type: "button", cls: "sk-retry", text: "Retry" });
    var errorBox = el("div", { cls: "sk-error", role: "alert", hidden: "" }, [errorText, retry]);
    var input = el("textarea", { id: "sk-input-" + Math.random().toString(36).slice(2), rows: "2",
      placeholder: "Ask a question…", "aria-describedby": "" });
    var send = el("button", { type: "submit", cls: "sk-primary sk-send", text: "Send" });
    var hint = el("div", { cls: "sk-hint", text: "Enter sends · Shift+Enter for a new line" });
    var form = el("form", { cls: "sk-form" }, [
      el("label", { cls: "sk-sr", "for": input.id, text: "Your question" }), input, send]);
    var keyInput = el("input", { type: "password", placeholder: "API key", "aria-label": "API key" });
    var keyForm = el("form", { cls: "sk-keyform", hidden: "" }, [
      el("span", { text: "This server needs a key:" }), keyInput,
      el("button", { type: "submit", text: "Use key" })]);
    var newButton = el("button", { type: "button", cls: "sk-new", text: "New conversation" });
    var chat = el("div", { cls: "sk-chat" }, [
      el("header", { cls: "sk-head" }, [el("h1", { text: options.title || "Customer support" }), newButton]),
      keyForm, log, errorBox, form, hint]);
    root.appendChild(chat);

    function headers() {
      var h = { "Content-Type": "application/json" };
      var k = key || cfg.browser_key || store.getItem(keyKey);
      if (k) h.Authorization = "Bearer " + k;
      return h;
    }
    function conversationId() { return store.getItem(idKey); }
    function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }
    function scroll(force) { if (force || atBottom()) log.scrollTop = log.scrollHeight; }

    function showError(message, canRetry) {
      errorText.textContent = message;
      retry.hidden = !canRetry;
      errorBox.hidden = false;
    }
    function clearError() { errorBox.hidden = true; }

    function needKey() {
      keyForm.hidden = false;
      keyInput.focus();
    }
    keyForm.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!keyInput.value.trim()) return;
      store.setItem(keyKey, keyInput.value.trim());
      keyForm.hidden = true;
      keyInput.value = "";
      clearError();
      loadHistory();
    });

    function describe(status, body, retryAfter) {
      var message = (body && body.error && body.error.message) || ("the server answered " + status);
      if (status === 429 || status === 503) {
        return (status === 429 ? "Too many messages right now" : "The assistant is busy") +
          (retryAfter ? " — try again in " + retryAfter + " s." : " — try again shortly.");
      }
      return "Something went wrong: " + message;
    }

    function addMessage(role, text, meta) {
      var who = role === "user" ? "You" : role === "agent" ? "Support agent" : "Assistant";
      var body = el("div", { cls: "sk-text" });
      var node = el("div", { cls: "sk-msg sk-" + role, "data-role": role },
        [el("span", { cls: "sk-who", text: who }), body]);
      if (role === "user") body.textContent = text; else renderText(body, text);
      log.appendChild(node);
      if (meta) finishAnswer(node, meta);
      scroll(true);
      return node;
    }

    function addNotice(text, kind) {
      var node = el("div", { cls: "sk-notice sk-" + kind, role: "status", text: text });
      log.appendChild(node);
      scroll(true);
      return node;
    }

    function showArticle(container, source) {
      var existing = container.querySelector(".sk-article");
      if (existing) { existing.remove(); return; }
      fetch(base + "/v1/articles/" + encodeURIComponent(source.article), { headers: headers() })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (a) { container.appendChild(el("div", { cls: "sk-article", tabindex: "0", text: a.text })); })
        .catch(function () { container.appendChild(el("div", { cls: "sk-article", text: "The article could not be loaded." })); });
    }

    function finishAnswer(node, meta) {
      var sources = (meta.sources && meta.sources.length) ? meta.sources
        : (meta.citations || []).map(function (t) { return { title: t, article: "", url: "" }; });
      if (sources.length) {
        var box = el("div", { cls: "sk-sources" }, [el("span", { text: "Help articles: " })]);
        sources.forEach(function (s, i) {
          var link;
          if (/^https?:\/\//.test(s.url || "")) link = el("a", { href: s.url, target: "_blank", rel: "noopener", text: s.title });
          else if (s.article) link = el("a", { href: "#", role: "button", text: s.title,
            onclick: function (e) { e.preventDefault(); showArticle(box, s); } });
          else link = el("span", { text: s.title });
          if (i) box.appendChild(document.createTextNode(" · "));
          box.appendChild(link);
        });
        node.appendChild(box);
      }
      if (meta.escalation) {
        addNotice("This conversation has been handed to a person from our support team. " +
          "They will answer here — you can keep this page open.", "handoff");
        poll();
      }
      if (meta.response_id && meta.handled_by !== "agent") node.appendChild(ratingBar(meta.response_id));
    }

    function ratingBar(responseId) {
      var bar = el("div", { cls: "sk-rate", role: "group", "aria-label": "Rate this answer" });
      var up = el("button", { type: "button", cls: "sk-up", "aria-pressed": "false", text: "Helpful" });
      var down = el("button", { type: "button", cls: "sk-down", "aria-pressed": "false", text: "Not helpful" });
      var status = el("span", { cls: "sk-rate-status", role: "status" });
      function choose(rating) {
        up.setAttribute("aria-pressed", String(rating === "up"));
        down.setAttribute("aria-pressed", String(rating === "down"));
        var old = bar.querySelector(".sk-rate-form");
        if (old) old.remove();
        var correction = el("textarea", { rows: "2", cls: "sk-correction", "aria-label": "A better answer (optional)",
          placeholder: rating === "down" ? "What would the right answer be? (optional)" : "Anything to add? (optional)" });
        var comment = el("input", { type: "text", cls: "sk-comment", "aria-label": "Comment (optional)", placeholder: "Comment (optional)" });
        var submit = el("button", { type: "submit", cls: "sk-primary sk-rate-send", text: "Send rating" });
        var rform = el("form", { cls: "sk-rate-form" }, [correction, comment, submit]);
        rform.addEventListener("submit", function (e) {
          e.preventDefault();
          submit.disabled = true;
          var payload = { response_id: responseId, rating: rating };
          if (correction.value.trim()) payload.correction = correction.value.trim();
          if (comment.value.trim()) payload.comment = comment.value.trim();
          fetch(base + "/v1/feedback", { method: "POST", headers: headers(), body: JSON.stringify(payload) })
            .then(function (r) {
              if (!r.ok) throw new Error(String(r.status));
              rform.remove();
              up.disabled = down.disabled = true;
              status.textContent = "Thanks for your feedback.";
            })
            .catch(function () { submit.disabled = false; status.textContent = "Could not send the rating; try again."; });
        });
        bar.appendChild(rform);
        correction.focus();
      }
      up.addEventListener("click", function () { choose("up"); });
      down.addEventListener("click", function () { choose("down"); });
      bar.appendChild(up); bar.appendChild(down); bar.appendChild(status);
      return bar;
    }

    /* Read server-sent events from a fetch body; calls onEvent(data string) for each `data:` line. */
    async function readEvents(response, onEvent) {
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
      for (;;) {
        var step = await reader.read();
        if (step.done) break;
        buffer += decoder.decode(step.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          var data = block.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
            .map(function (l) { return l.slice(5).trim(); }).join("\n");
          if (data && onEvent(data) === false) return;
        }
      }
    }

    async function ask(question) {
      if (busy) return;
      busy = true; send.disabled = true; clearError(); lastQuestion = question;
      var userNode = addMessage("user", question);
      var answer = el("div", { cls: "sk-text" });
      var node = el("div", { cls: "sk-msg sk-assistant sk-streaming", "data-role": "assistant",
        "aria-live": "polite", "aria-busy": "true" }, [el("span", { cls: "sk-who", text: "Assistant" }), answer]);
      log.appendChild(node); scroll(true);
      var text = "", meta = null, done = false, failure = null;
      var body = { model: cfg.model, stream: true, messages: [{ role: "user", content: question }] };
      if (conversationId()) body.conversation_id = conversationId();
      try {
        var response = await fetch(base + "/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
        if (!response.ok) {
          var detail = null;
          try { detail = await response.json(); } catch (e) { /* not JSON */ }
          if (response.status === 401) { store.removeItem(keyKey); needKey(); }
          failure = describe(response.status, detail, response.headers.get("Retry-After"));
        } else {
          await readEvents(response, function (data) {
            if (data === "[DONE]") { done = true; return false; }
            var event = JSON.parse(data);
            if (event.error) { failure = describe(event.error.code || 500, event); return false; }
            if (event.supportkit) meta = event.supportkit;
            (event.choices || []).forEach(function (c) {
              if (c.delta && c.delta.content) { text += c.delta.content; renderText(answer, text); scroll(false); }
            });
          });
          if (!done && !failure) failure = "The connection dropped before the answer was complete.";
        }
      } catch (err) {
        failure = "The connection to the server was lost.";
      }
      node.classList.remove("sk-streaming");
      node.setAttribute("aria-busy", "false");
      if (failure) {
        node.remove(); userNode.remove();
        showError(failure, true);
      } else {
        if (meta && meta.conversation_id) store.setItem(idKey, meta.conversation_id);
        if (meta && meta.handled_by === "agent") { node.remove(); addNotice(text, "agent-notice"); poll(); }
        else if (meta) finishAnswer(node, meta);
        lastQuestion = null;
      }
      busy = false; send.disabled = false;
      input.focus();
    }

    /* Long-poll the conversation for messages from a person (the agent's replies). */
    async function poll() {
      var cid = conversationId(), token = ++pollToken;
      var failures = 0;
      while (cid && token === pollToken && cid === conversationId()) {
        try {
          var r = await fetch(base + "/v1/conversations/" + encodeURIComponent(cid) + "/events?wait=20&after=" + lastMessageId,
            { headers: headers() });
          if (r.status === 404 || r.status === 401 || r.status === 403) return;
          if (!r.ok) throw new Error(String(r.status));
          var data = await r.json();
          failures = 0;
          if (token !== pollToken) return;
          (data.messages || []).forEach(function (m) {
            lastMessageId = Math.max(lastMessageId, m.id || 0);
            if (m.role === "agent") addMessage("agent", m.content);
          });
        } catch (e) {
          failures += 1;
          await new Promise(function (res) { setTimeout(res, Math.min(30000, 1000 * Math.pow(2, failures))); });
        }
      }
    }

    async function loadHistory() {
      var cid = conversationId();
      if (!cid) return;
      try {
        var r = await fetch(base + "/v1/conversations/" + encodeURIComponent(cid), { headers: headers() });
        if (r.status === 404) { store.removeItem(idKey); return; }
        if (r.status === 401) { needKey(); return; }
        if (!r.ok) { showError(describe(r.status, null, r.headers.get("Retry-After")), false); return; }
        var conversation = await r.json();
        log.textContent = "";
        conversation.messages.forEach(function (m) {
          lastMessageId = Math.max(lastMessageId, m.id || 0);
          if (m.role === "system") return;
          var meta = m.role === "assistant" ? { response_id: m.response_id, sources: [] } : null;
          addMessage(m.role, m.content, meta);
          if (m.meta && m.meta.escalation) addNotice("This conversation was handed to a person from our support team.", "handoff");
        });
        if (conversation.escalated || conversation.status === "agent") poll();
      } catch (e) {
        showError("The server could not be reached.", false);
      }
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var q = input.value.trim();
      if (!q || busy) return;
      input.value = "";
      ask(q);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    retry.addEventListener("click", function () { if (lastQuestion) ask(lastQuestion); else { clearError(); loadHistory(); } });
    newButton.addEventListener("click", function () {
      store.removeItem(idKey);
      pollToken += 1; lastMessageId = 0;
      log.textContent = ""; clearError();
      input.focus();
    });

    fetch(base + "/chat-config.json")
      .then(function (r) { return r.json(); })
      .then(function (c) { cfg = c; if (c.keys_required && !key && !c.browser_key && !store.getItem(keyKey)) needKey(); })
      .catch(function () { showError("The server could not be reached.", false); })
      .then(loadHistory);
    return { ask: ask };
  }

  window.SupportChat = { mount: mount, renderText: renderText };
  var script = document.currentScript;
  if (script && script.dataset.mount) {
    var target = document.querySelector(script.dataset.mount);
    if (target) mount(target, { base: script.dataset.base || "" });
  }
})();
