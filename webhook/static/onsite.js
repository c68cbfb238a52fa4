// The projector page: fetch a new code at each 30 s rotation, count down, show check-ins.
// No reload: the page polls its JSON endpoint (same origin, token in the URL it was given).
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-code-url");
  var nextTpl = body.getAttribute("data-next");
  var checkedTpl = body.getAttribute("data-checked");
  var offline = body.getAttribute("data-offline");
  var closed = body.getAttribute("data-closed");
  var qr = document.getElementById("qr");
  var countdown = document.getElementById("countdown");
  var checked = document.getElementById("checked");
  var status = document.getElementById("status");
  var seconds = parseInt(countdown.getAttribute("data-seconds"), 10) || 30;
  var code = null;
  var sinceCount = 0;
  // 1,234 as the server writes it, not in the projector PC's locale (1.234 in German)
  var numbers = document.documentElement.lang === "en" ? "en-US" : "ko-KR";

  function fill(template, name, value) {
    return template.split("%(" + name + ")s").join(String(value));
  }

  function show(state) {
    if (state.code !== code) {
      code = state.code;
      qr.src = state.qr;
      qr.setAttribute("data-code", state.code);
    }
    qr.classList.remove("stale");
    body.classList.remove("closed");
    seconds = state.expires_in;
    countdown.textContent = fill(nextTpl, "seconds", seconds);
    countdown.hidden = false;
    checked.textContent = fill(checkedTpl, "count", state.checked_in.toLocaleString(numbers));
    status.hidden = true;
  }

  function refresh() {
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(show)
      .catch(function (err) {
        qr.classList.add("stale"); // never leave an expired code up as if it were valid
        countdown.hidden = true; // and promise no new code until the server answers again
        // 404: the session was closed (or the review ended), not a network problem
        var gone = err && err.message === "404";
        body.classList.toggle("closed", gone); // no code, no "scan the code": just the notice
        status.textContent = gone ? closed : offline;
        status.hidden = false;
      });
  }

  code = qr.getAttribute("data-code");
  setInterval(function () {
    seconds -= 1;
    sinceCount += 1;
    if (seconds <= 0 || sinceCount >= 5) {
      sinceCount = 0;
      refresh();
    } else {
      countdown.textContent = fill(nextTpl, "seconds", seconds);
    }
  }, 1000);
})();
