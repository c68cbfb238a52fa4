// Check a ledger receipt (or a block) in the browser; trust nothing the server says.
//
// Uses WebCrypto only: SHA-256 for RFC 6962 / RFC 9162 hashing and Ed25519 (RFC 8032) for
// the C2SP signed-note signatures of checkpoints and the signatures of entries.
// Inclusion: RFC 9162 §2.1.3.2. Consistency: RFC 9162 §2.1.4.2.
// Checkpoint text: C2SP tlog-checkpoint (origin, size, base64 root) inside a C2SP signed note.
"use strict";

(() => {
  const T = JSON.parse(document.getElementById("texts").textContent);
  const enc = new TextEncoder();
  const subtle = window.crypto && window.crypto.subtle;

  const fmt = (key, params) =>
    (T[key] || key).replace(/%\((\w+)\)s/g, (_, name) => String(params && name in params ? params[name] : ""));

  class Failure extends Error {
    constructor(step, message) { super(message); this.step = step; }
  }

  // ---------------------------------------------------------------- bytes

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => {
    if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error("bad hex");
    return Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
  };
  const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (bytes) => new Uint8Array(await subtle.digest("SHA-256", bytes));
  // RFC 6962 §2.1: leaf = SHA-256(0x00 || d), node = SHA-256(0x01 || left || right)
  const hashLeaf = (leaf) => sha256(concat(Uint8Array.of(0), leaf));
  const hashChildren = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

  // ---------------------------------------------------------------- keys and notes

  // A note verifier key: name+hash+base64(0x01 || 32-byte Ed25519 public key).
  async function parseVkey(line) {
    // Split at the first two "+" only: the base64 key may itself contain "+".
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(line.trim());
    if (!m) throw new Error("malformed vkey");
    const parts = [m[1], m[2], m[3]];
    const raw = unb64(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 note key");
    // key hash = first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey)
    const digest = await sha256(concat(enc.encode(parts[0] + "\n"), raw));
    if (hex(digest.slice(0, 4)) !== parts[1]) throw new Error("vkey hash does not match its key");
    const key = await subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name: parts[0], hash: parts[1], id: `${parts[0]}+${parts[1]}`, key };
  }

  const ed25519 = (key, signature, message) => subtle.verify({ name: "Ed25519" }, key, signature, message);

  // Open a signed note: every signature by a known key must verify, and at least one must exist.
  async function openNote(text, vkeys) {
    const split = text.lastIndexOf("\n\n");
    if (!text.endsWith("\n") || split < 0) throw new Error("not a signed note");
    const body = text.slice(0, split + 1);
    let verified = null;
    for (const line of text.slice(split + 2, -1).split("\n")) {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      const sig = unb64(m[2]);
      const hashHex = hex(sig.slice(0, 4));
      const vk = vkeys.find((k) => k.name === m[1] && k.hash === hashHex);
      if (!vk) continue;
      if (sig.length !== 68 || !(await ed25519(vk.key, sig.slice(4), enc.encode(body)))) {
        throw new Error(`signature by ${vk.id} does not verify`);
      }
      verified = vk;
    }
    if (!verified) throw new Error("no signature by a published key");
    const lines = body.split("\n");
    const size = lines[1];
    if (lines.length < 4 || !/^(0|[1-9][0-9]*)$/.test(size)) throw new Error("not a checkpoint");
    const root = unb64(lines[2]);
    if (root.length !== 32) throw new Error("root hash is not 32 bytes");
    return { origin: lines[0], size: Number(size), root, signer: verified.id };
  }

  // ---------------------------------------------------------------- RFC 9162 proofs

  // §2.1.3.2: verify that `leaf` is entry `index` of the tree of `size` with `root`.
  async function verifyInclusion(index, size, leaf, path, root) {
    let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
    if (fn > sn) throw new Error("index beyond tree size");
    for (const p of path) {
      if (sn === 0n) throw new Error("inclusion path too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await hashChildren(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await hashChildren(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("inclusion path too short");
    if (!equal(r, root)) throw new Error("inclusion path leads to a different root");
  }

  // §2.1.4.2: verify that the tree of size `first` with `firstRoot` is a prefix of `second`.
  async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
    let m = BigInt(first), n = BigInt(second);
    if (m > n) throw new Error("first size exceeds second");
    if (m === n) {
      if (path.length !== 0 || !equal(firstRoot, secondRoot)) throw new Error("equal sizes, different roots");
      return;
    }
    if (path.length === 0) throw new Error("empty consistency proof");
    let proof = path.slice();
    if ((m & (m - 1n)) === 0n) proof = [firstRoot, ...proof]; // first is a power of two
    let fn = m - 1n, sn = n - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = proof[0], sr = proof[0];
    for (const c of proof.slice(1)) {
      if (sn === 0n) throw new Error("consistency path too long");
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await hashChildren(c, fr);
        sr = await hashChildren(c, sr);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        sr = await hashChildren(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("consistency path too short");
    if (!equal(fr, firstRoot)) throw new Error("proof does not lead to the earlier root");
    if (!equal(sr, secondRoot)) throw new Error("proof does not lead to the later root");
  }

  // ---------------------------------------------------------------- fetching

  // The ledger server could not answer (down, unreachable, overloaded): nothing was checked,
  // so this is neither a pass nor a mismatch. The page says so in its own language.
  class Unavailable extends Error {}

  async function reach(path, options) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (_) {
      throw new Unavailable("network");  // the browser's text (Failed to fetch) is not shown
    }
    if (response.status >= 500 || response.status === 429) throw new Unavailable(String(response.status));
    return response;
  }

  async function get(path, asText) {
    const response = await reach(path, { headers: { Accept: asText ? "text/plain" : "application/json" } });
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try { detail += `: ${(await response.json()).message}`; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return asText ? response.text() : response.json();
  }

  // ---------------------------------------------------------------- the checks

  async function check(receipt, report) {
    let step = "step_vkey";
    const run = async (name, fn) => {
      step = name;
      const detail = await fn();
      report(name, "ok", detail);
      return detail;
    };
    try {
      const vkeys = await run("step_vkey", async () => {
        const lines = (await get("/ledger/vkey", true)).split("\n").filter((l) => l.trim());
        const keys = [];
        for (const line of lines) keys.push(await parseVkey(line));
        if (!keys.length) throw new Error("no key published");
        return keys;
      }).then((keys) => keys);
      const blocks = await findBlocks(receipt);
      const block = blocks.current;
      if (!block) {
        report("step_checkpoint_sig", "skipped");  // the summary says why, once
        return { ok: false, pending: true, summary: fmt("not_sealed") };  // not a failure: too early
      }
      const cp = await run("step_checkpoint_sig", async () => {
        const opened = await openNote(block.checkpoint, vkeys);
        if (opened.size !== block.end) throw new Error("checkpoint size differs from the block's end");
        return opened;
      });
      let entrySummary = "";
      if (receipt.index !== null) {
        const index = receipt.index;
        if (index >= cp.size || index < block.start) throw new Error(fmt("proof_invalid"));
        const leafText = (await get(`/ledger/entries?start=${index}&end=${index + 1}`)).entries[0];
        const leafBytes = enc.encode(leafText);
        const leafHash = await run("step_leaf", async () => {
          const computed = await hashLeaf(leafBytes);
          if (receipt.hash !== null && hex(computed) !== receipt.hash) throw new Error(fmt("hash_mismatch"));
          return computed;
        });
        entrySummary = await run("step_entry", async () => verifyEntry(leafText, vkeys));
        await run("step_inclusion", async () => {
          const proof = await get(`/ledger/proof/inclusion?index=${index}&size=${cp.size}`);
          await verifyInclusion(index, cp.size, leafHash, proof.path.map(unhex), cp.root);
        });
      }
      const previous = blocks.previous;
      if (!previous) {
        report("step_previous", "skipped", fmt("no_previous"));
      } else {
        const prev = await run("step_previous", async () => openNote(previous.checkpoint, vkeys));
        await run("step_consistency", async () => {
          const proof = await get(`/ledger/proof/consistency?from=${prev.size}&to=${cp.size}`);
          await verifyConsistency(prev.size, cp.size, prev.root, cp.root, proof.path.map(unhex));
        });
      }
      const summary = fmt("block_summary", {
        block: block.number, start: block.start, end: block.end - 1, size: cp.size, root: hex(cp.root),
      });
      if (entrySummary) return { ok: true, summary: `${entrySummary} ${summary}` };
      // no receipt of the reader's own: only the channel's post ties this root to what was posted
      return { ok: true, summary: `${summary} ${fmt("compare_channel", { block: block.number })}` };
    } catch (err) {
      if (err instanceof Unavailable) return { ok: false, unavailable: true, summary: fmt("error_fetch") };
      if (err instanceof Failure) {  // a receipt naming what does not exist: say just that
        report(err.step, "failed", err.message);
        return { ok: false, summary: err.message };
      }
      report(step, "failed", err.message);
      return { ok: false, summary: `${fmt(step)}: ${err.message}` };
    }
  }

  // Find the receipt's block and the one before it. What does not exist is named as such: an
  // entry beyond the ledger, an entry outside the block the receipt names, a block never sealed.
  async function findBlocks(receipt) {
    let number = receipt.block;
    if (number === null) {
      const found = (await get(`/ledger/blocks?index=${receipt.index}`)).blocks;
      if (!found.length) {
        await entryExists(receipt.index);
        return { current: null, previous: null };
      }
      number = found[0].number;
    }
    const start = Math.max(1, number - 1);
    const page = (await get(`/ledger/blocks?start=${start}&limit=2`)).blocks;
    const current = page.find((b) => b.number === number) || null;
    const previous = page.find((b) => b.number === number - 1) || null;
    if (!current) throw new Failure("step_checkpoint_sig", fmt("no_such_block", { block: number }));
    if (receipt.index !== null && !(current.start <= receipt.index && receipt.index < current.end)) {
      await entryExists(receipt.index);
      throw new Failure("step_inclusion", fmt("not_in_block", {
        index: receipt.index, block: number, start: current.start, end: current.end - 1,
      }));
    }
    return { current, previous };
  }

  // Raise a Failure when the ledger has no entry `index` (the entries API answers 404).
  async function entryExists(index) {
    const response = await reach(`/ledger/entries?start=${index}&end=${index + 1}`);
    if (response.status === 404) throw new Failure("step_leaf", fmt("no_such_entry", { index }));
  }

  // The leaf is canonical JSON {"entry":{...},"key":"name+hash","sig":"base64"}; the entry's
  // canonical bytes are exactly the text between `{"entry":` and `,"key":"`.
  async function verifyEntry(leafText, vkeys) {
    const leaf = JSON.parse(leafText);
    const head = '{"entry":';
    const mark = leafText.lastIndexOf(',"key":"');
    if (!leafText.startsWith(head) || mark < 0) throw new Error("malformed leaf");
    const entryBytes = enc.encode(leafText.slice(head.length, mark));
    const vk = vkeys.find((k) => k.id === leaf.key);
    if (!vk) throw new Error(`entry signed by unknown key ${leaf.key}`);
    if (!(await ed25519(vk.key, unb64(leaf.sig), entryBytes))) throw new Error(fmt("sig_invalid"));
    const e = leaf.entry;
    const kind = T["kind." + e.kind] ? `${T["kind." + e.kind]} (${e.kind})` : e.kind;
    return fmt("found_entry", { seq: e.seq, kind, ts: kstTime(e.ts) });
  }

  // An entry's time (RFC 3339 UTC) as people here read it: in KST, in the page's language.
  function kstTime(ts) {
    const when = new Date(ts);
    if (Number.isNaN(when.getTime())) return ts;
    const date = new Intl.DateTimeFormat(document.documentElement.lang === "en" ? "en-US" : "ko-KR", {
      timeZone: "Asia/Seoul", year: "numeric", month: "long", day: "numeric", weekday: "short",
      hour: "numeric", minute: "2-digit", second: "2-digit",
    }).format(when);
    return fmt("entry_time", { date });
  }

  // ---------------------------------------------------------------- page

  const form = document.getElementById("receipt");
  const result = document.getElementById("result");

  function readReceipt() {
    const field = (id) => document.getElementById(id).value.trim();
    const i = field("i"), h = field("h").toLowerCase(), b = field("b");
    if ((i && !/^[0-9]{1,15}$/.test(i)) || (b && !/^[0-9]{1,15}$/.test(b)) ||
        (h && !/^[0-9a-f]{64}$/.test(h)) || (!i && !b) || (h && !i)) {
      return null;
    }
    return { index: i ? Number(i) : null, hash: h || null, block: b ? Number(b) : null };
  }

  async function onSubmit(event) {
    if (event) event.preventDefault();
    const steps = document.getElementById("steps");
    const heading = document.getElementById("checked");
    steps.replaceChildren();
    heading.hidden = steps.hidden = true;  // shown with the first step: no empty heading
    result.hidden = false;
    result.className = "";
    delete result.dataset.outcome;
    const verdict = document.getElementById("verdict");
    const summary = document.getElementById("summary");
    summary.textContent = "";
    if (!subtle) { verdict.textContent = fmt("no_webcrypto"); return; }
    const receipt = readReceipt();
    if (!receipt) {
      verdict.textContent = fmt("error_input");
      result.className = result.dataset.outcome = "bad";
      return;
    }
    verdict.textContent = fmt("checking");
    const report = (step, state, detail) => {
      const li = document.createElement("li");
      li.className = state;
      li.dataset.step = step;
      li.dataset.state = state;
      li.textContent = `${fmt(step)} \u2014 ${fmt(state)}`;
      if (typeof detail === "string" && detail) {
        const span = document.createElement("span");
        span.className = "detail";
        span.textContent = detail;
        li.appendChild(span);
      }
      steps.appendChild(li);
      heading.hidden = steps.hidden = false;
    };
    let outcome;
    try {
      outcome = await check(receipt, report);
    } catch (err) {
      outcome = { ok: false, unavailable: true, summary: fmt("error_fetch") };
    }
    const state = outcome.ok ? "ok" : outcome.pending ? "pending" : outcome.unavailable ? "unavailable" : "bad";
    result.className = state;
    result.dataset.outcome = state;
    // a block number alone (the channel digest's link) has no receipt to match: say what was checked
    const said = state === "ok" && receipt.index === null ? "result_block_ok" : `result_${state}`;
    verdict.textContent = fmt(said);
    summary.textContent = outcome.summary;
  }

  form.addEventListener("submit", onSubmit);
  if (document.getElementById("i").value || document.getElementById("b").value) onSubmit(null);
})();
