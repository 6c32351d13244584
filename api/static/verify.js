/* CaseLedger browser verifier, format caseledger-page v1 (docs/spec/06-verification.md §8).
 *
 * One fixed file: no templating, no library, no network. It reads the JSON block
 * <script type="application/json" id="caseledger-data"> of the page it runs in and checks it
 * with WebCrypto (SHA-256, Ed25519) against a log key the reader gives: the verifier key pinned in
 * the QR code's URL fragment (#k=<name>+<key id>+<base64 key>) or typed into the page.
 *
 * Checked, in order, stopping each record at its first failure (spec 06 steps in brackets):
 *   the checkpoint: a C2SP signed note signed by the given log key (4.1-4.6), and, if witness
 *   keys are given, C2SP cosignature/v1 cosignatures by at least k of them (4.7);
 *   the key-registry entries that register the signing keys: canonical msgpack, signature by a
 *   root key registered before them (or the root key itself for entry 1), inclusion proof;
 *   each case entry: canonical msgpack with a well-formed envelope (1.2), its case and number
 *   (1.5), prev link (1.6), key registered to the actor and valid at occurred_at (1.7),
 *   Ed25519 signature over PAE("CaseLedger/v1/entry-signature", entry hash) (1.4), and the
 *   RFC 9162 inclusion proof of its leaf against the checkpoint's root (3.1-3.5);
 *   an entry shown as hash and position (withheld): its inclusion proof, and its hash as the
 *   next entry's prev.
 * After the first failing entry the later ones are reported as not checked.
 */
(function () {
  "use strict";
  var enc = new TextEncoder();
  var ENTRY_CONTEXT = "CaseLedger/v1/entry-signature";
  var KEY_REGISTRY_ID = "7044ba1f-ea45-5c90-b6e0-fe8cd87d73b8";
  var STEP_NAMES = {
    "1.2": "记录不是规范编码或格式不正确", "1.4": "签名无效", "1.5": "记录编号不连续",
    "1.6": "与上一条记录的链接（prev）不符", "1.7": "签名密钥未登记给该执法人员或不在有效期内",
    "3.4": "包含证明长度不符", "3.5": "包含证明与检查点根哈希不符", "3.1": "日志位置超出检查点",
    "4.4": "检查点格式不正确", "4.5.1": "检查点的日志名称与公钥名称不符", "4.6": "检查点签名无效",
    "4.7": "见证联署不足", "7.4": "密钥登记记录无效", "key": "所给公钥无效"
  };

  function Fail(step, msg) { this.step = step; this.msg = msg; }

  // ------------------------------------------------------------------ bytes
  function b64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function cat() {
    var n = 0, i, parts = arguments;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), o = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], o); o += parts[i].length; }
    return out;
  }
  function eq(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function hex(a) { return Array.prototype.map.call(a, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join(""); }
  function sha256(data) { return crypto.subtle.digest("SHA-256", data).then(function (d) { return new Uint8Array(d); }); }
  function le64(n) { var o = new Uint8Array(8); new DataView(o.buffer).setBigUint64(0, BigInt(n), true); return o; }
  function pae(parts) {
    var out = [le64(parts.length)];
    parts.forEach(function (p) { out.push(le64(p.length), p); });
    return cat.apply(null, out);
  }
  var keyCache = {};
  function ed25519(pub, sig, msg) {
    if (pub.length !== 32 || sig.length !== 64) return Promise.resolve(false);
    var k = hex(pub);
    if (!keyCache[k]) keyCache[k] = crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return keyCache[k].then(function (key) { return crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg); })
      .catch(function () { return false; });
  }

  // ------------------------------------------------------------------ canonical msgpack (spec 01)
  // Decodes the profile's types and refuses anything that would not re-encode to the same bytes:
  // non-minimal headers, unsorted or duplicate map keys, non-text keys, floats, ext, trailing bytes.
  var td = new TextDecoder("utf-8", { fatal: true });
  function unpack(buf) {
    var pos = 0, dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    function need(n) { if (pos + n > buf.length) throw new Fail("1.2", "msgpack 数据被截断"); }
    function noncanon() { throw new Fail("1.2", "msgpack 不是规范编码"); }
    function uint(n) {
      need(n); var v;
      if (n === 1) v = dv.getUint8(pos); else if (n === 2) v = dv.getUint16(pos); else if (n === 4) v = dv.getUint32(pos);
      else { v = dv.getBigUint64(pos); v = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
      pos += n; return v;
    }
    function str(n) { need(n); var s = td.decode(buf.subarray(pos, pos + n)); pos += n; return s; }
    function bin(n) { need(n); var b = buf.slice(pos, pos + n); pos += n; return b; }
    function cmpBytes(a, b) {
      for (var i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
      return a.length - b.length;
    }
    function map(n, depth) {
      var m = Object.create(null), prev = null;  // (no prototype: a "__proto__" key is an ordinary key)
      for (var i = 0; i < n; i++) {
        var k = value(depth + 1);
        if (typeof k !== "string") throw new Fail("1.2", "map 的键不是文本");
        var kbytes = enc.encode(k);
        if (prev !== null && cmpBytes(prev, kbytes) >= 0) noncanon();
        prev = kbytes;
        m[k] = value(depth + 1);
      }
      return m;
    }
    function arr(n, depth) { var a = []; for (var i = 0; i < n; i++) a.push(value(depth + 1)); return a; }
    function value(depth) {
      if (depth > 64) throw new Fail("1.2", "嵌套过深");
      need(1);
      var t = buf[pos++], v;
      if (t <= 0x7f) return t;
      if (t >= 0xe0) return t - 0x100;
      if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f);
      if (t >= 0x90 && t <= 0x9f) return arr(t & 0x0f, depth);
      if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f, depth);
      switch (t) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xcc: v = uint(1); if (v < 0x80) noncanon(); return v;
        case 0xcd: v = uint(2); if (v < 0x100) noncanon(); return v;
        case 0xce: v = uint(4); if (v < 0x10000) noncanon(); return v;
        case 0xcf: v = uint(8); if (v < 0x100000000) noncanon(); return v;
        case 0xd0: need(1); v = dv.getInt8(pos); pos += 1; if (v >= -32) noncanon(); return v;
        case 0xd1: need(2); v = dv.getInt16(pos); pos += 2; if (v >= -128) noncanon(); return v;
        case 0xd2: need(4); v = dv.getInt32(pos); pos += 4; if (v >= -32768) noncanon(); return v;
        case 0xd3: need(8); v = dv.getBigInt64(pos); pos += 8; if (v >= -2147483648n) noncanon();
          return v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
        case 0xd9: v = uint(1); if (v < 32) noncanon(); return str(v);
        case 0xda: v = uint(2); if (v < 0x100) noncanon(); return str(v);
        case 0xdb: v = uint(4); if (v < 0x10000) noncanon(); return str(v);
        case 0xc4: return bin(uint(1));
        case 0xc5: v = uint(2); if (v < 0x100) noncanon(); return bin(v);
        case 0xc6: v = uint(4); if (v < 0x10000) noncanon(); return bin(v);
        case 0xdc: v = uint(2); if (v < 16) noncanon(); return arr(v, depth);
        case 0xdd: v = uint(4); if (v < 0x10000) noncanon(); return arr(v, depth);
        case 0xde: v = uint(2); if (v < 16) noncanon(); return map(v, depth);
        case 0xdf: v = uint(4); if (v < 0x10000) noncanon(); return map(v, depth);
        default: throw new Fail("1.2", "msgpack 含有不允许的类型 0x" + t.toString(16));
      }
    }
    var out = value(0);
    if (pos !== buf.length) throw new Fail("1.2", "msgpack 之后还有多余字节");
    return out;
  }
  function isBin(x, n) { return x instanceof Uint8Array && (n === undefined || x.length === n); }
  function isUint(x) { return (typeof x === "number" && Number.isInteger(x) && x >= 0) || (typeof x === "bigint" && x >= 0n); }
  var ENVELOPE = ["actor", "body", "case", "key", "n", "occurred_at", "prev", "type", "v"];
  function envelope(bytes) {
    var m = unpack(bytes);
    if (typeof m !== "object" || m === null || Array.isArray(m) || m instanceof Uint8Array ||
        Object.keys(m).sort().join() !== ENVELOPE.join() || m.v !== 1 || typeof m.case !== "string" ||
        !isUint(m.n) || m.n < 1 || typeof m.type !== "string" || !isUint(m.occurred_at) ||
        typeof m.actor !== "string" || !m.actor || !isBin(m.key, 32) || !isBin(m.prev, 32) ||
        typeof m.body !== "object" || m.body === null || Array.isArray(m.body) || m.body instanceof Uint8Array) {
      throw new Fail("1.2", "记录的信封字段不正确");
    }
    return m;
  }

  // ------------------------------------------------------------------ hashes (spec 02, 03)
  function entryHash(bytes) { return sha256(cat(enc.encode("CaseLedger/v1/entry\0"), bytes)); }
  function genesis(c) { return sha256(cat(enc.encode("CaseLedger/v1/genesis\0"), enc.encode(c))); }
  function keyId(pub) { return sha256(cat(enc.encode("CaseLedger/v1/key\0"), pub)); }
  function packUint(v) {
    v = BigInt(v);
    if (v < 0x80n) return new Uint8Array([Number(v)]);
    var n = v < 0x100n ? 1 : v < 0x10000n ? 2 : v < 0x100000000n ? 4 : 8;
    var out = new Uint8Array(1 + n); out[0] = { 1: 0xcc, 2: 0xcd, 4: 0xce, 8: 0xcf }[n];
    for (var i = n; i >= 1; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }
  function leafHash(eh, sig, recordedAt, index) {
    var data = cat(new Uint8Array([0x84, 0xaa]), enc.encode("entry_hash"), new Uint8Array([0xc4, 0x20]), eh,
      new Uint8Array([0xa5]), enc.encode("index"), packUint(index),
      new Uint8Array([0xab]), enc.encode("recorded_at"), packUint(recordedAt),
      new Uint8Array([0xa3]), enc.encode("sig"), new Uint8Array([0xc4, 0x40]), sig);
    return sha256(cat(new Uint8Array([0]), data));
  }
  function node(l, r) { return sha256(cat(new Uint8Array([1]), l, r)); }
  function bitlen(x) { var n = 0; while (x > 0n) { n++; x >>= 1n; } return n; }
  function popcount(x) { var n = 0; while (x > 0n) { n += Number(x & 1n); x >>= 1n; } return n; }
  // RFC 9162 §2.1.3.2, as transparency-dev/merkle proof/verify.go (spec 06 steps 3.1-3.5).
  async function verifyInclusion(index, size, leaf, proof, root) {
    var m = BigInt(index), n = BigInt(size);
    if (m >= n) throw new Fail("3.1", "日志位置 " + index + " 不小于检查点大小 " + size);
    var inner = bitlen(m ^ (n - 1n)), border = popcount(m >> BigInt(inner));
    if (!Array.isArray(proof) || proof.length > 64 || proof.length !== inner + border) {
      throw new Fail("3.4", "包含证明应有 " + (inner + border) + " 个哈希，实有 " + (proof ? proof.length : 0));
    }
    var h = leaf, p = proof.map(b64);
    if (p.some(function (x) { return x.length !== 32; })) throw new Fail("3.3", "包含证明的哈希长度不是 32 字节");
    for (var i = 0; i < p.length; i++) {
      if (i < inner && ((m >> BigInt(i)) & 1n) === 0n) h = await node(h, p[i]); else h = await node(p[i], h);
    }
    if (!eq(h, root)) throw new Fail("3.5", "由包含证明算出的根哈希与检查点不符");
  }

  // ------------------------------------------------------------------ keys and notes (spec 04, C2SP)
  // A verifier key: <name>+<8 hex key id>+<base64(type || 32-byte key)>; type 0x01 (signed-note
  // Ed25519) for the log, 0x04 (cosignature/v1) for witnesses. Key id = SHA-256(name || 0x0A || type || key)[:4].
  async function parseVkey(text, type) {
    var parts = String(text).trim().split("+");
    if (parts.length < 3) throw new Fail("key", "公钥格式应为 名称+密钥ID+base64");
    var name = parts[0], id = parts[1], raw;
    try { raw = b64(parts.slice(2).join("+")); } catch (e) { throw new Fail("key", "公钥不是有效的 base64"); }
    if (!name || /\s/.test(name) || !/^[0-9a-fA-F]{8}$/.test(id)) throw new Fail("key", "公钥的名称或密钥 ID 不正确");
    if (raw.length !== 33 || raw[0] !== type) throw new Fail("key", "公钥应为类型 0x0" + type + " 加 32 字节 Ed25519 公钥");
    var pub = raw.slice(1), want = (await sha256(cat(enc.encode(name + "\n"), new Uint8Array([type]), pub))).slice(0, 4);
    if (hex(want) !== id.toLowerCase()) throw new Fail("key", "公钥的密钥 ID 与公钥不符");
    return { name: name, id: want, pub: pub, text: String(text).trim() };
  }
  function parseNote(note) {
    // Steps 4.1-4.4: split at the last blank line; body = origin, size, root, extensions.
    if (typeof note !== "string" || note.length > 16384 || /[\x00-\x09\x0b-\x1f\x7f]/.test(note)) throw new Fail("4.1", "检查点文本不正确");
    var cut = note.lastIndexOf("\n\n");
    if (cut < 0 || note[note.length - 1] !== "\n") throw new Fail("4.2", "检查点没有签名部分");
    var body = note.slice(0, cut + 1), sigs = note.slice(cut + 2, -1).split("\n"), lines = body.slice(0, -1).split("\n");
    if (sigs.length < 1 || sigs.length > 64) throw new Fail("4.3", "签名行数目不正确");
    var parsed = sigs.map(function (l) {
      var m = /^\u2014 (\S+) ([A-Za-z0-9+\/=]+)$/.exec(l);
      if (!m) throw new Fail("4.3", "签名行格式不正确");
      var raw = b64(m[2]);
      if (raw.length < 5) throw new Fail("4.3", "签名行太短");
      return { name: m[1], id: raw.slice(0, 4), sig: raw.slice(4) };
    });
    if (lines.length < 3 || !lines[0] || !/^(0|[1-9][0-9]{0,18})$/.test(lines[1])) throw new Fail("4.4", "检查点正文格式不正确");
    var root = b64(lines[2]);
    if (root.length !== 32) throw new Fail("4.4", "检查点根哈希不是 32 字节");
    return { body: body, origin: lines[0], size: Number(lines[1]), root: root, sigs: parsed };
  }
  async function verifyCheckpoint(note, logKey, witnesses, quorum) {
    var cp = parseNote(note), bodyBytes = enc.encode(cp.body);
    // Step 4.5.1: the origin is the name of the trusted log key.
    if (cp.origin !== logKey.name) throw new Fail("4.5.1", "检查点属于日志 “" + cp.origin + "”，而公钥名称是 “" + logKey.name + "”");
    // Step 4.6: the first line of the trusted key decides; unknown keys are ignored.
    var mine = cp.sigs.filter(function (s) { return s.name === logKey.name && eq(s.id, logKey.id); });
    if (!mine.length) throw new Fail("4.6", "检查点不是由该公钥签名的");
    if (!(await ed25519(logKey.pub, mine[0].sig, bodyBytes))) throw new Fail("4.6", "检查点签名无效");
    // Step 4.7: C2SP cosignature/v1: base64(key id || 8-byte big-endian time || signature) over
    // "cosignature/v1\ntime <time>\n" || body; at least `quorum` distinct witness keys.
    var cosigners = [];
    for (var i = 0; i < witnesses.length; i++) {
      var w = witnesses[i], line = cp.sigs.filter(function (s) { return s.name === w.name && eq(s.id, w.id); })[0];
      if (!line) continue;
      if (line.sig.length !== 72) throw new Fail("4.7", "见证 " + w.name + " 的联署格式不正确");
      var t = new DataView(line.sig.buffer, line.sig.byteOffset, 8).getBigUint64(0);
      var msg = cat(enc.encode("cosignature/v1\ntime " + t.toString() + "\n"), bodyBytes);
      if (!(await ed25519(w.pub, line.sig.slice(8), msg))) throw new Fail("4.7", "见证 " + w.name + " 的联署签名无效");
      cosigners.push({ name: w.name, time: Number(t) });
    }
    if (cosigners.length < quorum) throw new Fail("4.7", "需要至少 " + quorum + " 个见证联署，实有 " + cosigners.length);
    cp.cosigners = cosigners;
    return cp;
  }

  // ------------------------------------------------------------------ the case
  function registration(e) {
    var b = e.type === "key.rotated.v1" ? e.body["new"] : e.body;
    if (typeof b !== "object" || b === null || b instanceof Uint8Array || Array.isArray(b)) return null;
    if (["key.registry_opened.v1", "key.registered.v1", "key.rotated.v1"].indexOf(e.type) < 0) return null;
    if (!b || !isBin(b.public_key, 32) || !isBin(b.key_id, 32) || typeof b.principal !== "string") return null;
    return b;
  }
  async function checkKeys(items, cp) {
    // Registry entries in order of n: each is included in the checkpoint, signed by a root key
    // registered by an earlier one (entry 1: the root key itself), and registers key_id(public_key).
    var ring = {};
    for (var i = 0; i < items.length; i++) {
      var it = items[i], where = "密钥登记记录 " + it.n + "：";
      try {
        var bytes = b64(it.entry), sig = b64(it.sig), e = envelope(bytes), eh = await entryHash(bytes);
        var reg = registration(e);
        if (e.case !== KEY_REGISTRY_ID || e.n !== it.n || !reg) throw new Fail("7.4", "不是密钥登记");
        if (hex(await keyId(reg.public_key)) !== hex(reg.key_id)) throw new Fail("7.4", "密钥 ID 与公钥不符");
        var signer = e.n === 1 ? reg : ring[hex(e.key)];
        if (e.n === 1 && (e.type !== "key.registry_opened.v1" || !eq(e.key, reg.key_id))) throw new Fail("7.4", "第 1 条登记必须是根密钥自签");
        if (!signer || signer.role !== "root") throw new Fail("7.4", "签名者不是已登记的根密钥");
        if (!(await ed25519(signer.public_key, sig, pae([enc.encode(ENTRY_CONTEXT), eh])))) throw new Fail("1.4", "签名无效");
        await verifyInclusion(it.index, cp.size, await leafHash(eh, sig, it.recorded_at, it.index), it.proof, cp.root);
        ring[hex(reg.key_id)] = reg;
      } catch (err) {
        if (err instanceof Fail) { err.msg = where + err.msg; }
        throw err;
      }
    }
    return ring;
  }
  // The expensive work of one entry (decoding, hashing, signature, inclusion proof), done for all
  // entries at once; judge() then applies the checks in order and reports the first failure.
  async function prepare(it, cp, ring) {
    var p = { sigOk: false, incl: null };
    try {
      p.sig = b64(it.sig);
      var sigOk = Promise.resolve(false);
      if (it.withheld !== undefined) {
        p.eh = b64(it.withheld);
      } else {
        if (it.entry === undefined) throw new Fail("1.2", "记录无法解析");
        var bytes = b64(it.entry);
        p.e = envelope(bytes);
        p.eh = await entryHash(bytes);
        p.reg = ring[hex(p.e.key)];
        if (p.reg) sigOk = ed25519(p.reg.public_key, p.sig, pae([enc.encode(ENTRY_CONTEXT), p.eh]));
      }
      var incl = Promise.resolve(null);
      if (it.proof !== null && it.proof !== undefined && p.eh.length === 32) {
        incl = leafHash(p.eh, p.sig, it.recorded_at, it.index)
          .then(function (lh) { return verifyInclusion(it.index, cp.size, lh, it.proof, cp.root); })
          .then(function () { return null; }, function (err) { return err; });
      }
      p.sigOk = await sigOk;
      p.incl = await incl;
    } catch (err) {
      p.err = err;
    }
    return p;
  }
  function judge(p, it, i, state, data) {
    if (it.n !== i + 1) throw new Fail("1.5", "记录编号应为 " + (i + 1) + "，实为 " + it.n);
    if (p.err) throw p.err;
    if (it.withheld !== undefined) {
      if (p.eh.length !== 32) throw new Fail("1.2", "记录哈希不是 32 字节");
    } else {
      var e = p.e, reg = p.reg;
      // Steps 1.5, 1.6: the case, number and prev link.
      if (e.case !== data.case || e.n !== i + 1) throw new Fail("1.5", "记录编号应为 " + data.case + "#" + (i + 1) + "，实为 " + e.case + "#" + e.n);
      if (!eq(e.prev, state.head)) throw new Fail("1.6", "prev 与上一条记录的哈希不符");
      // Step 1.7: the key is registered to the actor and valid at occurred_at.
      if (!reg || reg.principal !== e.actor || !(BigInt(reg.valid_from) <= BigInt(e.occurred_at)) ||
          (reg.valid_until !== null && reg.valid_until !== undefined && !(BigInt(e.occurred_at) < BigInt(reg.valid_until)))) {
        throw new Fail("1.7", "签名密钥未登记给该执法人员，或不在有效期内");
      }
      // Step 1.4: the signature.
      if (!p.sigOk) throw new Fail("1.4", "签名无效");
    }
    state.head = p.eh;
    if (it.proof === null || it.proof === undefined) return "pending";
    // Steps 3.1-3.5: the inclusion proof.
    if (p.incl) throw p.incl;
    return it.withheld !== undefined ? "included" : "verified";
  }

  /* verifyPage(data, logKeyText, witnessTexts, quorum) -> report:
   *   {status: verified|partial|failed, key, checkpoint, cosigners, failure, entries:[{n, status, step, message}]}
   * status per entry: verified (signature, link and inclusion), included (hash and position:
   * inclusion and link), pending (after the checkpoint), failed, unchecked (after a failure). */
  async function verifyPage(data, logKeyText, witnessTexts, quorum) {
    var rep = { status: "failed", entries: [], failure: null, cosigners: [] };
    var items = data.entries || [];
    function rest(from) {
      for (var j = from; j < items.length; j++) rep.entries.push({ n: items[j].n, label: items[j].label, status: "unchecked" });
    }
    try {
      var key = await parseVkey(logKeyText, 1);
      rep.key = key.text;
      var ws = [];
      for (var w = 0; w < (witnessTexts || []).length; w++) ws.push(await parseVkey(witnessTexts[w], 4));
      var cp = await verifyCheckpoint(data.checkpoint, key, ws, quorum || 0);
      rep.checkpoint = { origin: cp.origin, size: cp.size, root: hex(cp.root) };
      rep.cosigners = cp.cosigners;
      var ring = await checkKeys(data.keys || [], cp);
    } catch (err) {
      if (!(err instanceof Fail)) throw err;
      rep.failure = { n: null, step: err.step, message: err.msg };
      rest(0);
      return rep;
    }
    var state = { head: await genesis(data.case) };
    var prepared = await Promise.all(items.map(function (it) { return prepare(it, cp, ring); }));
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      try {
        var st = judge(prepared[i], it, i, state, data);
        rep.entries.push({ n: it.n, label: it.label, status: st });
      } catch (err) {
        if (!(err instanceof Fail)) err = new Fail("1.2", "记录无法解析：" + err.message);
        rep.failure = { n: it.n, label: it.label, step: err.step, message: err.msg };
        rep.entries.push({ n: it.n, label: it.label, status: "failed", step: err.step, message: err.msg });
        rest(i + 1);
        return rep;
      }
    }
    if (!items.length) { rep.failure = { n: null, step: "-", message: "没有记录" }; return rep; }
    rep.status = rep.entries.some(function (e) { return e.status === "pending"; }) ? "partial" : "verified";
    return rep;
  }

  // ------------------------------------------------------------------ the page
  function $(id) { return document.getElementById(id); }
  function text(el, s) { el.textContent = s; return el; }
  function fragmentParams() {
    var out = { k: null, w: [], q: 0 };
    (location.hash || "").replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("="); if (i < 0) return;
      var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
      if (k === "k") out.k = v; else if (k === "w") out.w.push(v); else if (k === "q") out.q = parseInt(v, 10) || 0;
    });
    return out;
  }
  var STATUS_TEXT = { verified: "已核验（签名、链接、包含证明）", included: "已核验（哈希与位置、包含证明；内容不公开）",
    pending: "待下一个检查点（签名与链接已核验）", unchecked: "在失败之后未检查" };
  function render(data, rep, source) {
    var box = $("bv-status");
    box.dataset.status = rep.status;
    var who = rep.key ? "日志公钥 " + rep.key + "（来源：" + source + "）" : "（公钥无效）";
    var n = rep.entries.filter(function (e) { return e.status === "verified" || e.status === "included"; }).length;
    if (rep.status === "verified" || rep.status === "partial") {
      text(box, "✔ 本浏览器已自行核验：检查点（" + rep.checkpoint.origin + "，树大小 " + rep.checkpoint.size + "）由" + who +
        "签名" + (rep.cosigners.length ? "，并有 " + rep.cosigners.length + " 个见证联署（" + rep.cosigners.map(function (c) { return c.name; }).join("、") + "）" : "") +
        "；" + n + " 条记录已通过核验" + (rep.status === "partial" ? "，其余记录晚于该检查点" : "") + "。");
    } else {
      var f = rep.failure;
      text(box, "✘ 本浏览器核验失败：" + (f.n ? "第 " + f.n + " 条记录（" + (f.label || "不公开的内部记录") + "）" : "") +
        (STEP_NAMES[f.step] || "") + "（步骤 " + f.step + "）：" + f.message + "。所用公钥：" + who + "。");
    }
    var body = $("bv-entries");
    body.textContent = "";
    rep.entries.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.className = "bv-" + e.status; tr.dataset.n = e.n;
      var label = e.label || "不公开的内部记录（仅核验哈希与位置）";
      [String(e.n), label, e.status === "failed" ? "失败：" + (STEP_NAMES[e.step] || "") + "（步骤 " + e.step + "）：" + e.message
        : STATUS_TEXT[e.status]].forEach(function (s) { tr.appendChild(text(document.createElement("td"), s)); });
      body.appendChild(tr);
    });
    $("bv-table").hidden = false;
  }
  async function run(source) {
    var data = JSON.parse($("caseledger-data").textContent);
    var keyText = $("bv-key").value.trim();
    var wit = $("bv-witnesses").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    var q = parseInt($("bv-quorum").value, 10) || 0;
    if (!keyText) { $("bv-status").dataset.status = "nokey"; text($("bv-status"), "请输入日志公钥，或扫描告知书上的二维码打开本页。"); return null; }
    if (!(window.crypto && crypto.subtle)) { $("bv-status").dataset.status = "nocrypto"; text($("bv-status"), "本浏览器不支持 WebCrypto，无法在本地核验。"); return null; }
    var t0 = performance.now();
    var rep = await verifyPage(data, keyText, wit, q);
    rep.ms = performance.now() - t0;
    render(data, rep, source);
    rep.doneAt = performance.now();
    window.caseledgerReport = rep;
    return rep;
  }
  window.caseledgerVerify = { verifyPage: verifyPage, unpack: unpack, run: run };
  function start() {
    if (!$("caseledger-data") || !$("bv-key")) return;
    var p = fragmentParams(), source = "二维码";
    if (p.k) $("bv-key").value = p.k;
    if (p.w.length) $("bv-witnesses").value = p.w.join("\n");
    if (p.q) $("bv-quorum").value = String(p.q);
    $("bv-run").addEventListener("click", function () { run("手动输入").catch(showError); });
    var useServer = $("bv-use-server");
    if (useServer) useServer.addEventListener("click", function () {
      var d = JSON.parse($("caseledger-data").textContent);
      $("bv-key").value = d.server_key || "";
      run("本服务器提供（非独立来源）").catch(showError);
    });
    if (p.k) run(source).catch(showError); else run("").catch(showError);
  }
  function showError(e) { $("bv-status").dataset.status = "error"; text($("bv-status"), "核验程序出错：" + e); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
