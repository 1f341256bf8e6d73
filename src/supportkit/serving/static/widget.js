/* supportkit chat widget: put the support chat on your own site.
 *   <script src="https://support.example.com/widget.js" async></script>
 * Optional attributes: data-key (a chat-scope browser key; default: the server's SUPPORTKIT_BROWSER_KEY),
 * data-title, data-open="true". Your site's origin must be listed in serving.cors_origins.
 * The chat lives in a shadow root, so the page's styles and the widget's do not mix. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var data = script.dataset;

  function start() {
    var host = document.createElement("div");
    host.setAttribute("data-supportkit-widget", "");
    document.body.appendChild(host);
    var shadow = host.attachShadow({ mode: "open" });
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = base + "/static/chat.css";
    shadow.appendChild(css);
    var wrap = document.createElement("div");
    wrap.className = "sk-root";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "sk-launcher";
    button.textContent = data.label || "Chat with support";
    button.setAttribute("aria-expanded", "false");
    var panel = document.createElement("div");
    panel.className = "sk-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", data.title || "Customer support");
    panel.hidden = true;
    wrap.appendChild(panel);
    wrap.appendChild(button);
    shadow.appendChild(wrap);
    var mounted = false;
    function toggle(open) {
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open && !mounted) {
        mounted = true;
        window.SupportChat.mount(panel, { base: base, key: data.key || null, title: data.title });
      }
      if (open) { var t = panel.querySelector("textarea"); if (t) t.focus(); }
    }
    button.addEventListener("click", function () { toggle(panel.hidden); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { toggle(false); button.focus(); } });
    if (data.open === "true") toggle(true);
  }

  function load() {
    if (window.SupportChat) { start(); return; }
    var s = document.createElement("script");
    s.src = base + "/static/chat.js";
    s.onload = start;
    document.head.appendChild(s);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
