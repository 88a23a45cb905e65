// The chat simulator: submits the chat's forms with fetch (the server answers with the chat
// fragment), keeps the view at the newest message and polls for the bot's queued messages
// (report updates, task cards, notices) every 2 seconds. Without this script every form still
// works (the server redirects back to the chat).
(function () {
  "use strict";
  var phone = document.getElementById("sim");
  if (!phone) { return; }
  var member = phone.getAttribute("data-member");
  var csrf = phone.getAttribute("data-csrf");
  var log = document.getElementById("sim-log");
  var errorBox = document.getElementById("sim-error");
  var busy = false;
  var last = log.innerHTML;

  function scrollDown() {
    var list = document.getElementById("sim-messages");
    if (list) { list.scrollTop = list.scrollHeight; }
  }

  function show(html) {
    if (html !== last) {
      last = html;
      log.innerHTML = html;
      scrollDown();
    }
  }

  function showError(text) {
    if (text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
    } else {
      errorBox.textContent = "";
      errorBox.hidden = true;
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("sim-form")) { return; }
    ev.preventDefault();
    if (busy) { return; }
    var data = new FormData(form);
    var btn = ev.submitter;
    if (btn && btn.name) { data.append(btn.name, btn.value); }
    var multipart = form.enctype === "multipart/form-data";
    var body = multipart ? data : new URLSearchParams(data);
    busy = true;
    phone.classList.add("busy");
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Sim-Fetch": "1", "X-CSRF-Token": csrf }
    }).then(function (resp) {
      return resp.text().then(function (text) {
        if (resp.ok) {
          showError("");
          show(text);
          var input = document.getElementById("sim-text");
          if (form.id === "sim-text-form" && input) { input.value = ""; input.focus(); }
          if (multipart) { form.reset(); }
        } else if (resp.status === 413) {
          showError(phone.getAttribute("data-too-large") || String(resp.status));
        } else if (resp.status === 422 || resp.status === 400) {
          // The server's message (or its error page): show the text only.
          var box = new DOMParser().parseFromString(text, "text/html");
          var msg = box.querySelector(".sim-refusal, .message");
          showError(msg ? msg.textContent : String(resp.status));
        } else {
          showError(resp.status + " " + resp.statusText);
        }
      });
    }).catch(function () {
      showError("…");
    }).then(function () {
      busy = false;
      phone.classList.remove("busy");
      phone.setAttribute("data-done", String(Number(phone.getAttribute("data-done") || "0") + 1));
    });
  });

  function poll() {
    if (busy) { return; }
    fetch("/simulator/" + member + "/log", {
      credentials: "same-origin",
      headers: { "X-Sim-Fetch": "1" }
    }).then(function (resp) {
      if (resp.ok) { return resp.text(); }
      return null;
    }).then(function (html) {
      if (html !== null && !busy) { show(html); }
    }).catch(function () {});
  }

  scrollDown();
  setInterval(poll, 2000);
})();
