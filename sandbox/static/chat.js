// The sandbox web chat. Texts come from the sandbox catalog (window.SANDBOX_TEXTS); message HTML
// is rendered and escaped by the server (sandbox/text.py render_html); everything else is set
// with textContent. Live updates: one EventSource; each event triggers a refresh.
(function () {
  "use strict";
  const T = window.SANDBOX_TEXTS || {};
  const t = (key, params) => {
    let text = T[key] || key;
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split("%(" + name + ")s").join(String(value));
    }
    return text;
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };
  const state = { user: null, personas: [], bot: "", tab: "chat", seenToasts: new Set(), lastCount: -1,
    qr: new Map(), stickToBottom: true, group: null };
  // Times are KST, written the way the page's language writes them (오후 3:05, 3:05 PM).
  const clock = new Intl.DateTimeFormat(document.documentElement.lang === "en" ? "en-US" : "ko-KR",
    { timeZone: "Asia/Seoul", hour: "2-digit", minute: "2-digit" });

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: body instanceof FormData ? {} : { "Content-Type": "application/json" },
      body: body instanceof FormData ? body : JSON.stringify(body),
    };
    const response = await fetch("/sandbox/api/" + path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      toast(t("chat.error", { error: data.error || response.status }));
      throw new Error(data.error || String(response.status));
    }
    return data;
  }

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 2600);
  }

  // -- personas -----------------------------------------------------------------------------
  async function loadPersonas() {
    const data = await api("personas");
    state.personas = data.personas;
    state.bot = data.bot.username;
    $("bot-user").textContent = "@" + state.bot;
    const saved = Number(localStorage.getItem("sandbox.user"));
    if (!state.user) {
      state.user = state.personas.some((p) => p.id === saved) ? saved : (state.personas[0] || {}).id;
    }
    renderPersonas();
  }

  function renderPersonas() {
    const box = $("personas");
    box.replaceChildren();
    for (const p of state.personas) {
      const chip = el("button", "chip" + (p.id === state.user ? " active" : ""), p.first_name);
      chip.type = "button";
      chip.dataset.userId = p.id;
      chip.setAttribute("role", "tab");
      chip.append(el("span", "role", t("role." + p.role)));
      chip.addEventListener("click", () => selectPersona(p.id));
      box.append(chip);
    }
  }

  function selectPersona(id) {
    state.user = id;
    state.lastCount = -1;
    localStorage.setItem("sandbox.user", String(id));
    renderPersonas();
    refresh();
  }

  async function addPersona() {
    const name = (prompt(t("persona.name_prompt")) || "").trim();
    if (!name) return;
    const answer = (prompt(t("persona.role_prompt"), t("role.resident")) || "").trim();
    const roles = { resident: "resident", judge: "judge", official: "official" };
    for (const key of Object.keys(roles)) roles[t("role." + key)] = key;
    const persona = await api("personas", { first_name: name, role: roles[answer] || "resident",
      language_code: document.documentElement.lang || "ko" });
    await loadPersonas();
    selectPersona(persona.id);
  }

  // -- rendering ----------------------------------------------------------------------------
  function time(date) { return clock.format(new Date(date * 1000)); }

  function isOurLink(href) {
    try {
      const url = new URL(href, location.href);
      return (url.hostname === "t.me" || url.hostname === "telegram.me") &&
        url.pathname.replace(/^\//, "").split("/")[0].toLowerCase() === state.bot.toLowerCase();
    } catch (e) { return false; }
  }

  function openLink(href) {
    if (isOurLink(href) || href.startsWith("tg://")) {
      setTab("chat");
      return api("chat/" + state.user + "/link", { link: href });
    }
    window.open(href, "_blank", "noopener");
  }

  function body(msg) {
    const box = el("div", "body");
    box.innerHTML = msg.html || "";  // escaped server-side
    for (const a of box.querySelectorAll("a")) {
      a.addEventListener("click", (event) => {
        event.preventDefault();
        if (a.classList.contains("command")) sendText(a.dataset.command);
        else openLink(a.getAttribute("href"));
      });
    }
    return box;
  }

  function inlineKeyboard(msg) {
    const rows = (msg.reply_markup || {}).inline_keyboard;
    if (!rows) return null;
    const box = el("div", "inline-keyboard");
    for (const row of rows) {
      const line = el("div", "row");
      for (const button of row) {
        const b = el("button", null, button.text);
        b.type = "button";
        b.addEventListener("click", () => {
          if (button.callback_data !== undefined) {
            api("chat/" + state.user + "/press", { message_id: msg.message_id, data: button.callback_data });
          } else if (button.url) openLink(button.url);
        });
        line.append(b);
      }
      box.append(line);
    }
    return box;
  }

  function bubble(msg, post) {
    if (msg.pinned_message_id) return el("div", "service", t("chat.pinned"));
    const mine = !msg.outgoing;
    const box = el("div", "msg" + (mine ? " me" : "") + (post ? " post" : ""));
    box.dataset.messageId = msg.message_id;
    if (msg.photo_url) {
      const img = el("img");
      img.src = msg.photo_url;
      img.alt = msg.caption || "";
      img.addEventListener("load", keepAtBottom);  // its height arrives after the scroll
      box.append(img);
      if (!mine && !post) {
        // "Scan this QR code" only under a picture that holds one (decoded once per picture).
        const scan = el("button", "scan-btn", t("chat.scan_this"));
        scan.type = "button";
        scan.hidden = state.qr.get(msg.photo_url) !== true;
        scan.addEventListener("click", () => scanImage(msg.photo_url));
        box.append(scan);
        if (!state.qr.has(msg.photo_url)) {
          state.qr.set(msg.photo_url, null);
          decode(msg.photo_url).catch(() => null).then((data) => {
            state.qr.set(msg.photo_url, Boolean(data));
            if (data) {
              for (const b of document.querySelectorAll(".scan-btn")) {
                if (b.dataset.url === msg.photo_url) b.hidden = false;
              }
              keepAtBottom();
            }
          });
        }
        scan.dataset.url = msg.photo_url;
      }
    }
    if (msg.document) {
      const doc = el("div", "document");
      const link = el("a", null, "⬇ " + (msg.document.file_name || t("chat.download")));
      link.href = msg.document_url;
      link.download = msg.document.file_name || "";
      doc.append(link);
      box.append(doc);
    }
    if (msg.contact) {
      box.append(el("div", "contact-card", "☎ " + t("chat.contact_card") + ": " +
        msg.contact.first_name + " " + msg.contact.phone_number));
    }
    if (msg.deep_link) box.append(el("span", "deeplink-tag", "↗ " + t("chat.deep_link")));
    if (msg.html) box.append(body(msg));
    const keyboard = post ? null : inlineKeyboard(msg);
    if (keyboard) box.append(keyboard);
    box.append(el("div", "meta", (msg.edited ? t("chat.edited") + " · " : "") + time(msg.date)));
    return box;
  }

  function keepAtBottom() {
    // A picture that loaded, or a keyboard that grew, must not hide the newest message.
    if (state.stickToBottom) $("chat").scrollTop = $("chat").scrollHeight;
  }

  function renderChat(data) {
    const list = $("chat");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    const visible = data.messages.filter((m) => !m.deleted);
    list.replaceChildren();
    if (!visible.length) list.append(el("div", "empty", t("chat.empty")));
    for (const msg of visible) list.append(bubble(msg, false));
    state.stickToBottom = atBottom || visible.length !== state.lastCount;
    state.lastCount = visible.length;
    $("bot-name").textContent = data.bot.first_name;
    $("blocked").hidden = !data.blocked;
    $("block-item").textContent = data.blocked ? t("chat.unblock") : t("chat.block");
    $("block-item").dataset.blocked = data.blocked ? "1" : "";
    $("start").hidden = visible.length > 0 && !data.blocked;
    $("composer").hidden = !$("start").hidden;
    renderReplyKeyboard(data.reply_keyboard);
    keepAtBottom();
    for (const answer of data.toasts || []) {
      if (state.seenToasts.has(answer.id)) continue;
      state.seenToasts.add(answer.id);
      if (!answer.text) continue;
      if (answer.show_alert) { $("alert-text").textContent = answer.text; $("alert-dialog").showModal(); }
      else toast(answer.text);
    }
  }

  function renderReplyKeyboard(markup) {
    const box = $("reply-keyboard");
    box.replaceChildren();
    box.hidden = !(markup && markup.keyboard);
    if (box.hidden) return;
    $("text").placeholder = markup.input_field_placeholder || t("chat.placeholder");
    for (const row of markup.keyboard) {
      const line = el("div", "row");
      for (const button of row) {
        const b = el("button", null, button.text);
        b.type = "button";
        b.addEventListener("click", () => {
          if (button.request_contact) api("chat/" + state.user + "/contact", {});
          else sendText(button.text);
        });
        line.append(b);
      }
      box.append(line);
    }
  }

  // -- groups: a persona creates one, joins one, adds the bot, writes there -------------------
  function groupService(msg) {
    const name = msg.from_name || "";
    if (msg.group_chat_created) return t("group.created", { name });
    if (msg.left_chat_member) return t("group.bot_left");
    const added = (msg.new_chat_members || [])[0];
    if (added) return added.is_bot ? t("group.bot_added", { name }) : t("group.joined", { name });
    return null;
  }

  function renderGroups(data) {
    const box = $("groups");
    box.replaceChildren();
    const ids = data.groups.map((g) => g.chat.id);
    if (!ids.includes(state.group)) {
      const mine = data.groups.find((g) => g.member);
      state.group = (mine || data.groups[0] || { chat: {} }).chat.id || null;
    }
    for (const g of data.groups) {
      const chip = el("button", "chip" + (g.chat.id === state.group ? " active" : ""), g.chat.title);
      chip.type = "button";
      chip.dataset.groupId = g.chat.id;
      chip.setAttribute("role", "tab");
      chip.addEventListener("click", () => { state.group = g.chat.id; state.lastCount = -1; refresh(); });
      box.append(chip);
    }
    return data.groups.find((g) => g.chat.id === state.group) || null;
  }

  function renderGroup(group, data) {
    const list = $("group");
    list.replaceChildren();
    const member = Boolean(group && group.member);
    const botIn = Boolean(data && data.bot_member);
    $("group-note").hidden = member && botIn;
    $("group-note-text").textContent = !group ? t("group.none") :
      !member ? t("group.not_member") : t("group.bot_absent");
    $("group-join").hidden = !group || member;
    $("group-add-bot").hidden = !member || botIn;
    $("composer").hidden = !member;
    if (!data) return;
    for (const msg of data.messages.filter((m) => !m.deleted)) {
      const service = groupService(msg);
      if (service) { list.append(el("div", "service", service)); continue; }
      const mine = !msg.outgoing && msg.from_user_id === state.user;
      const box = bubble(msg, false);
      box.classList.toggle("me", mine);
      if (!mine) box.prepend(el("div", "sender", msg.from_name || ""));
      list.append(box);
    }
    list.scrollTop = list.scrollHeight;
  }

  async function refreshGroup() {
    const group = renderGroups(await api("groups/" + state.user));
    const data = group && group.member ? await api("group/" + state.user + "/" + group.chat.id) : null;
    renderGroup(group, data);
  }

  async function newGroup() {
    const title = (prompt(t("group.title_prompt")) || "").trim();
    if (!title) return;
    const chat = await api("groups/" + state.user, { title });
    state.group = chat.id;
    refresh();
  }

  function groupAction(action) {
    return () => api("group/" + state.user + "/" + state.group + "/" + action, {});
  }

  function renderChannels(data) {
    const list = $("channel");
    list.replaceChildren();
    if (!data.channels.length) { list.append(el("div", "empty", t("channel.none"))); return; }
    for (const channel of data.channels) {
      list.append(el("div", "service", "@" + (channel.chat.username || channel.chat.title)));
      if (!channel.posts.length) list.append(el("div", "empty", t("channel.empty")));
      for (const post of channel.posts.filter((p) => !p.deleted)) list.append(bubble(post, true));
    }
    list.scrollTop = list.scrollHeight;
  }

  async function refresh() {
    if (!state.user) return;
    if (state.tab === "chat") renderChat(await api("chat/" + state.user));
    else if (state.tab === "group") await refreshGroup();
    else renderChannels(await api("channels"));
  }

  let pending = null;
  function scheduleRefresh() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh().catch(() => {}); }, 40);
  }

  // -- actions ------------------------------------------------------------------------------
  async function sendText(text) {
    if (!text || !text.trim() || !state.user) return;
    if (state.tab === "group" && state.group) {
      await api("group/" + state.user + "/" + state.group + "/text", { text });
      return;
    }
    await api("chat/" + state.user + "/text", { text });
  }

  function setTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
    $("chat").hidden = tab !== "chat";
    $("channel").hidden = tab !== "channel";
    $("footer").hidden = tab === "channel";
    // A group has the composer only: no keyboard, no start button, no attachments.
    for (const id of ["group", "group-bar"]) $(id).hidden = tab !== "group";
    if (tab !== "group") $("group-note").hidden = true;
    $("attach").hidden = tab === "group";
    if (tab === "group") {
      $("reply-keyboard").hidden = true;
      $("start").hidden = true;
    }
    refresh();
  }

  async function decode(url) {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement("canvas");
    const scale = Math.min(1, 1200 / Math.max(image.naturalWidth, image.naturalHeight));
    canvas.width = Math.round(image.naturalWidth * scale);
    canvas.height = Math.round(image.naturalHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const code = window.jsQR ? window.jsQR(pixels.data, canvas.width, canvas.height) : null;
    return code ? code.data : null;
  }

  async function scanImage(url) {
    const data = await decode(url).catch(() => null);
    if ($("scan-dialog").open) $("scan-dialog").close();
    if (!data) { toast(t("chat.scan_failed")); return; }
    if (/^https?:\/\/|^t\.me\/|^tg:\/\//.test(data)) await openLink(data);
    else toast(data);
  }

  async function openScanner() {
    const data = await api("photos");
    const list = $("scan-list");
    list.replaceChildren();
    if (!data.photos.length) list.append(el("p", null, t("chat.scan_none")));
    for (const photo of data.photos) {
      const img = el("img");
      img.src = photo.url;
      img.alt = t("chat.scan");
      img.addEventListener("click", () => scanImage(photo.url));
      list.append(img);
    }
    $("scan-dialog").showModal();
  }

  function wire() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      const text = input.value;
      input.value = "";
      sendText(text);
    });
    $("start").addEventListener("click", () => sendText("/start"));
    $("add-persona").addEventListener("click", addPersona);
    $("new-group").addEventListener("click", newGroup);
    $("group-join").addEventListener("click", groupAction("join"));
    $("group-add-bot").addEventListener("click", groupAction("bot"));
    $("photo-input").addEventListener("change", async (event) => {
      // Pictures go as photos (Telegram's "send as photo"), any other file as a document;
      // several picked together go as albums of up to ten, as Telegram's apps send them.
      const files = [...event.target.files];
      event.target.value = "";
      if (!files.length) return;
      const field = files.every((f) => f.type.startsWith("image/")) ? "photo" : "document";
      const caption = $("text").value.trim();
      if (caption) $("text").value = "";
      for (let i = 0; i < files.length; i += 10) {
        const chunk = files.slice(i, i + 10);
        const form = new FormData();
        for (const file of chunk) form.append(field, file);
        if (caption && i === 0) form.append("caption", caption);
        await api("chat/" + state.user + (chunk.length > 1 ? "/album" : "/" + field), form);
      }
    });
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => setTab(tab.dataset.tab));
    }
    const menu = $("menu");
    $("menu-button").addEventListener("click", () => { menu.hidden = !menu.hidden; });
    menu.addEventListener("click", async (event) => {
      const action = event.target.dataset.action;
      menu.hidden = true;
      if (action === "contact") await api("chat/" + state.user + "/contact", {});
      if (action === "scan") await openScanner();
      if (action === "link") {
        const link = (prompt(t("chat.link_prompt")) || "").trim();
        if (link) await openLink(link);
      }
      if (action === "block") {
        await api("chat/" + state.user + "/block", { blocked: !$("block-item").dataset.blocked });
      }
    });
    const events = new EventSource("/sandbox/api/events");
    events.onmessage = () => { $("offline").hidden = true; scheduleRefresh(); };
    events.onerror = () => { $("offline").hidden = false; };
  }

  wire();
  loadPersonas().then(refresh);
})();
