/*
 * tt-alloc dashboard: polls /api/snapshot (the JSON of tt-smi --json) once a
 * second and updates the page in place; follows /api/events (Server-Sent
 * Events) when the exporter offers it and prefills the charts from
 * /api/history when the segment keeps one.
 *
 * Every string that comes from the segment (process names, command lines,
 * user names, architectures) is untrusted: it is inserted with textContent
 * or as an attribute value, never as markup. The exporter's
 * Content-Security-Policy forbids inline script as a second wall.
 *
 * Machine-readable values: each device card carries data-device="ID" and
 * data-TYPE-used="BYTES" / data-TYPE-total="BYTES" for every memory type,
 * TYPE spelled exactly as the `type` label of /metrics (dram, l1, l1_small,
 * trace, system, cb, kernel); each process row carries data-pid,
 * data-device and data-TYPE-used (and data-TYPE-peak when known).
 */
'use strict';
(function () {
  const TYPES = ['dram', 'l1', 'l1_small', 'trace', 'system', 'cb', 'kernel'];
  const TYPE_LABEL = {
    dram: 'DRAM', l1: 'L1', l1_small: 'L1_SMALL', trace: 'TRACE',
    system: 'SYSTEM', cb: 'CB', kernel: 'Kernels',
  };
  // The pool a type lives in on the chip: its bar is drawn against that
  // pool's capacity (L1_SMALL, CBs and kernel binaries sit in L1, TRACE in
  // DRAM). SYSTEM is host memory: no pool, no bar scale.
  const POOL = {
    dram: 'dram', trace: 'dram', l1: 'l1', l1_small: 'l1', cb: 'l1', kernel: 'l1', system: null,
  };
  const POOL_TYPES = {
    dram: ['dram', 'trace'],
    l1: ['l1', 'l1_small', 'cb', 'kernel'],
  };
  const SERIES_COLORS = ['#4aa3ff', '#ffb547', '#36c9a5', '#c46cff', '#f25f8c', '#ff7a59',
    '#9ad14b', '#5ad1e6', '#e0c341', '#8f9bff'];
  const HISTORY_SECONDS = 600;
  const POLL_MS = 1000;
  const MAX_EVENTS = 200;

  const $ = (id) => document.getElementById(id);
  const cards = new Map(); // device id -> {root, rows, spark}
  const history = new Map(); // device id -> [{t, used}] oldest first
  let historySource = 'kept by this page since it opened';
  let lastRows = null; // key -> process summary, for derived events
  let lastCounters = null;
  let lastUp = null;
  let streamEvents = false; // /api/events delivers the segment's events
  const knownNames = new Map(); // pid -> name, kept after the process is gone
  let lastSnapshot = null;
  const events = []; // newest first
  const leaks = []; // newest first

  /* ---- formatting -------------------------------------------------------- */

  // Same rules as tt-smi (tta_format_bytes): binary units, one decimal
  // below 10 of a unit.
  function fmtBytes(n) {
    if (n === 0) return '0';
    const neg = n < 0;
    let v = Math.abs(n);
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
    let u = 0;
    while (v >= 1024 && u + 1 < units.length) { v /= 1024; u++; }
    let s;
    if (u === 0) s = String(v) + 'B';
    else if (v < 9.95) s = v.toFixed(1) + units[u];
    else s = v.toFixed(0) + units[u];
    return (neg ? '-' : '') + s;
  }
  function fmtTime(seconds) {
    const d = new Date(seconds * 1000);
    return d.toLocaleTimeString([], { hour12: false });
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  }
  function sumTypes(used, types) {
    let s = 0;
    for (const t of types) s += Number(used && used[t]) || 0;
    return s;
  }

  /* ---- device cards ------------------------------------------------------ */

  function makeCard(id) {
    const root = el('article', 'device');
    root.dataset.device = String(id);
    const head = el('div', 'device-head');
    const title = el('span', 'device-title', 'Device ' + id);
    const badge = el('span', 'badge');
    const counts = el('span', 'device-counts');
    head.append(title, badge, counts);
    // What the tt-kmd driver says (temperature, power, clock), when it does.
    const tele = el('div', 'device-tele');
    const sparkLabel = el('div', 'spark-label', 'DRAM and L1 in use, last 10 minutes');
    const mem = el('div', 'mem');
    const rows = {};
    for (const t of TYPES) {
      const name = el('div', 'mem-name', TYPE_LABEL[t]);
      const bar = el('div', 'bar');
      const fill = el('div');
      bar.append(fill);
      const value = el('div', 'mem-value');
      for (const part of [name, bar, value]) part.style.setProperty('--c', cssVar('--' + t));
      mem.append(name, bar, value);
      rows[t] = { name, fill, value };
    }
    const spark = el('canvas', 'spark');
    root.append(head, tele, mem, sparkLabel, spark);
    return { root, badge, counts, rows, spark, tele };
  }

  function teleText(d) {
    const t = d.telemetry || {};
    const parts = [];
    if (t.card_type) parts.push(t.card_type);
    if (typeof t.temperature_c === 'number') parts.push(t.temperature_c.toFixed(1) + ' \u00b0C');
    if (typeof t.power_w === 'number') parts.push(t.power_w.toFixed(1) + ' W');
    if (typeof t.voltage_mv === 'number') parts.push((t.voltage_mv / 1000).toFixed(2) + ' V');
    if (typeof t.aiclk_mhz === 'number') parts.push('AICLK ' + t.aiclk_mhz + ' MHz');
    if (typeof t.fan_rpm === 'number') parts.push('fan ' + t.fan_rpm + ' RPM');
    const metal = d.sources && d.sources['tt-metal'];
    if (metal && metal.segments > 0) {
      parts.push('TT-Metal ' + fmtBytes(sumTypes(metal.used, POOL_TYPES.dram)) + ' DRAM, ' +
        metal.processes + (metal.processes === 1 ? ' process' : ' processes'));
    }
    const un = Array.isArray(d.untracked) ? d.untracked.length : 0;
    if (un) parts.push(un + (un === 1 ? ' untracked process' : ' untracked processes'));
    return parts.join(' \u00b7 ');
  }

  function updateCard(card, d) {
    const root = card.root;
    card.tele.textContent = teleText(d);
    card.tele.hidden = !card.tele.textContent;
    if (d.telemetry && typeof d.telemetry.temperature_c === 'number') {
      root.setAttribute('data-temperature-celsius', String(d.telemetry.temperature_c));
    }
    card.badge.textContent = d.registered ? (d.arch || 'registered') : 'not registered';
    card.badge.className = d.registered ? 'badge' : 'badge unregistered';
    card.counts.textContent = d.processes + (d.processes === 1 ? ' process · ' : ' processes · ') +
      d.buffers + (d.buffers === 1 ? ' buffer' : ' buffers');
    for (const t of TYPES) {
      const used = Number(d.used[t]) || 0;
      const total = Number(d.total[t]) || 0;
      root.setAttribute('data-' + t + '-used', String(d.used[t]));
      root.setAttribute('data-' + t + '-total', String(d.total[t]));
      const pool = POOL[t];
      const cap = pool ? Number(d.total[pool]) || 0 : 0;
      const frac = cap > 0 ? Math.max(0, Math.min(1, used / cap)) : 0;
      const r = card.rows[t];
      r.fill.style.width = (frac * 100).toFixed(2) + '%';
      r.value.textContent = '';
      r.value.append(document.createTextNode(fmtBytes(used)));
      if (total > 0) {
        r.value.append(el('span', 'of', ' / ' + fmtBytes(total) + ' · ' +
          (100 * used / total).toFixed(used > 0 && used < total / 100 ? 2 : 0) + '%'));
      } else if (cap > 0 && used > 0) {
        r.value.append(el('span', 'of', ' of ' + TYPE_LABEL[pool]));
      }
      for (const cell of [r.name, r.value]) cell.classList.toggle('dim', used === 0);
    }
  }

  function renderDevices(snap) {
    const seen = new Set();
    const box = $('devices');
    for (const d of snap.devices) {
      seen.add(d.id);
      let card = cards.get(d.id);
      if (!card) {
        card = makeCard(d.id);
        cards.set(d.id, card);
        // Keep the cards in device order.
        let before = null;
        for (const other of box.children) {
          if (Number(other.dataset.device) > d.id) { before = other; break; }
        }
        box.insertBefore(card.root, before);
      }
      updateCard(card, d);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) { card.root.remove(); cards.delete(id); }
    }
    $('no-devices').hidden = snap.devices.length > 0;
  }

  /* ---- tiles --------------------------------------------------------------- */

  function renderTiles(snap) {
    let dram = 0, dramCap = 0, l1 = 0, l1Cap = 0, buffers = 0;
    for (const d of snap.devices) {
      dram += sumTypes(d.used, POOL_TYPES.dram);
      l1 += sumTypes(d.used, POOL_TYPES.l1);
      dramCap += Number(d.total.dram) || 0;
      l1Cap += Number(d.total.l1) || 0;
      buffers += Number(d.buffers) || 0;
    }
    const pids = new Set(snap.processes.map((p) => p.slot + ':' + p.generation));
    $('tile-devices').textContent = String(snap.devices.length);
    $('tile-processes').textContent = String(pids.size);
    $('tile-dram').textContent = fmtBytes(dram);
    $('tile-dram-sub').textContent = dramCap ? 'of ' + fmtBytes(dramCap) + ' · ' +
      (100 * dram / dramCap).toFixed(1) + '%' : 'capacity unknown';
    $('tile-l1').textContent = fmtBytes(l1);
    $('tile-l1-sub').textContent = l1Cap ? 'of ' + fmtBytes(l1Cap) + ' · ' +
      (100 * l1 / l1Cap).toFixed(1) + '%' : 'capacity unknown';
    $('tile-buffers').textContent = String(buffers);
    const c = snap.segment.counters || {};
    const leaked = Number(c.leaked_bytes) || 0;
    $('tile-leaked').textContent = fmtBytes(leaked);
    $('tile-leaked').className = 'tile-value' + (leaked > 0 ? ' bad' : '');
    const leaky = Number(c.leaky_processes) || 0, lbuf = Number(c.leaked_buffers) || 0;
    $('tile-leaked-sub').textContent = 'by ' + leaky + (leaky === 1 ? ' dead process, ' : ' dead processes, ') +
      lbuf + (lbuf === 1 ? ' buffer' : ' buffers');
    const reaper = snap.segment.reaper || {};
    $('tile-reaper').textContent = reaper.status || '?';
    $('tile-reaper').className = 'tile-value' + (reaper.status === 'running' ? ' good' : ' bad');
    $('tile-reaper-sub').textContent = reaper.pid ? 'pid ' + reaper.pid : 'writers reap on attach';
  }

  /* ---- processes ----------------------------------------------------------- */

  function renderProcesses(snap) {
    const body = $('processes').tBodies[0];
    const rows = snap.processes.filter((p) => p.device !== null);
    rows.sort((a, b) => sumTypes(b.used, TYPES) - sumTypes(a.used, TYPES) ||
      a.pid - b.pid || a.device - b.device);
    const frag = document.createDocumentFragment();
    for (const p of rows) {
      const tr = el('tr');
      tr.dataset.pid = String(p.pid);
      tr.dataset.device = String(p.device);
      tr.append(el('td', 'num', p.pid));
      const name = el('td', 'name', p.name);
      name.title = p.cmdline || '';
      if (p.source && p.source !== 'tt-alloc') {
        // Counted by TT-Metal's own segment, not by tt-alloc: shown apart.
        name.append(el('span', 'badge src', p.source));
        tr.dataset.source = p.source;
      }
      if (p.running === false) {
        name.classList.add('exited');
        name.title = 'exited, not reaped yet: ' + name.title;
      }
      tr.append(name, el('td', null, p.user === null ? (p.uid === null || p.uid === undefined ? '-' : p.uid) : p.user),
        el('td', 'num', p.device));
      let total = 0, peakKnown = false;
      for (const t of ['dram', 'l1', 'l1_small', 'trace', 'cb', 'kernel', 'system']) {
        const used = Number(p.used[t]) || 0;
        total += used;
        tr.setAttribute('data-' + t + '-used', String(p.used[t]));
        if (p.peak && p.peak[t] !== undefined) {
          tr.setAttribute('data-' + t + '-peak', String(p.peak[t]));
          peakKnown = true;
        }
        if (t === 'system') continue; // host memory: in the total only
        tr.append(el('td', 'num' + (used === 0 ? ' zero' : ''), fmtBytes(used)));
      }
      tr.append(el('td', 'num', fmtBytes(total)));
      // Peaks: the highest use of DRAM and of L1 since the process
      // attached, as its library keeps them (the other types' in the tooltip).
      for (const t of ['dram', 'l1']) {
        const cell = el('td', 'num' + (peakKnown ? '' : ' zero'),
          peakKnown ? fmtBytes(Number(p.peak[t]) || 0) : '-');
        if (peakKnown) {
          cell.title = 'peaks: ' + TYPES.filter((x) => Number(p.peak[x]) > 0)
            .map((x) => TYPE_LABEL[x] + ' ' + fmtBytes(Number(p.peak[x]))).join(', ');
        }
        tr.append(cell);
      }
      tr.append(el('td', 'num', p.buffers === null ? '-' : p.buffers));
      frag.append(tr);
    }
    // Processes that hold a device open but report nothing (tt-kmd's list).
    let untracked = 0;
    for (const d of snap.devices || []) {
      for (const u of Array.isArray(d.untracked) ? d.untracked : []) {
        const tr = el('tr', 'untracked');
        tr.dataset.pid = String(u.pid);
        tr.dataset.device = String(d.id);
        tr.dataset.source = 'untracked';
        const name = el('td', 'name', u.pid === 0 ? '(other pid namespaces)' : u.name || '?');
        name.append(el('span', 'badge src', 'untracked'));
        name.title = 'holds /dev/tenstorrent/' + d.id + ' open (' + u.open_files +
          (u.open_files === 1 ? ' file' : ' files') + ') but reports no memory';
        tr.append(el('td', 'num', u.pid || '-'), name, el('td', null, u.user === null ? '-' : u.user),
          el('td', 'num', d.id));
        for (let k = 0; k < 10; k++) tr.append(el('td', 'num zero', '-'));
        frag.append(tr);
        untracked++;
      }
    }
    body.replaceChildren(frag);
    $('no-processes').hidden = rows.length + untracked > 0;
  }

  /* ---- events and leaks ---------------------------------------------------- */

  // TEXT: a string, or the raw event of the stream, formatted when drawn so
  // a name learnt from a later snapshot still shows.
  function addEvent(t, kind, text) {
    events.unshift({ t, kind, text });
    if (events.length > MAX_EVENTS) events.length = MAX_EVENTS;
    scheduleEvents();
  }
  let eventsPending = false;
  function scheduleEvents() {
    if (eventsPending) return;
    eventsPending = true;
    // Bursts of allocations redraw the list at most four times a second.
    setTimeout(() => { eventsPending = false; renderEvents(); }, 250);
  }
  function renderEvents() {
    const frag = document.createDocumentFragment();
    for (const e of events) {
      const li = el('li');
      const text = typeof e.text === 'string' ? e.text : streamEventText(e.text);
      li.append(el('span', 't', fmtTime(e.t)), el('span', 'kind k-' + e.kind, e.kind),
        el('span', 'text', text));
      frag.append(li);
    }
    $('events').replaceChildren(frag);
    $('no-events').hidden = events.length > 0;
  }

  function addLeak(leak) {
    leaks.unshift(leak);
    if (leaks.length > MAX_EVENTS) leaks.length = MAX_EVENTS;
    const frag = document.createDocumentFragment();
    for (const l of leaks) {
      const tr = el('tr');
      tr.dataset.pid = String(l.pid);
      tr.append(el('td', null, fmtTime(l.t)), el('td', 'num', l.pid), el('td', 'name', l.name),
        el('td', 'num', l.device === null ? '-' : l.device), el('td', 'num', l.buffers),
        el('td', 'num', fmtBytes(l.bytes)));
      frag.append(tr);
    }
    $('leaks').tBodies[0].replaceChildren(frag);
    $('no-leaks').hidden = leaks.length > 0;
  }

  // One line per event of the segment's stream (the JSON of
  // tta_event_write_json), in the old server's log style:
  // "[Device 0] ALLOC: 512KiB DRAM by PID 12345 (name)".
  function streamEventText(e) {
    const name = knownNames.get(e.pid);
    const who = 'PID ' + e.pid + (name !== undefined ? ' (' + name + ')' : '');
    const dev = e.device !== undefined && e.device !== null ? '[Device ' + e.device + '] ' : '';
    const type = e.type ? ' ' + (TYPE_LABEL[e.type] || e.type) : '';
    const size = e.size !== undefined && e.size !== null ? ' ' + fmtBytes(Number(e.size)) : '';
    switch (e.event) {
      case 'alloc': case 'free': case 'cb_alloc': case 'cb_free': case 'kernel_load':
        return dev + e.event.toUpperCase() + ':' + size + type + ' by ' + who;
      case 'attach':
        return 'ATTACH: ' + who + ' (slot ' + e.slot + ')';
      case 'exit':
        return 'EXIT: ' + who + ' detached, its allocations released';
      case 'reap':
        return dev + 'REAP: ' + who + ' ended' + (Number(e.size) > 0 ? ', leaked ' +
          (e.buffers || 0) + ' buffers, ' + fmtBytes(Number(e.size)) : ', nothing leaked');
      case 'missed':
        return e.count + ' events missed (the ring was overwritten before this page read them)';
      default:
        return dev + String(e.event) + ' ' + who;
    }
  }

  let eventSource = null;
  function startEventStream() {
    if (!window.EventSource) return;
    if (eventSource) eventSource.close();
    // Attach, exit and reap by default: allocations of a busy workload would
    // flood the feed (they are recorded only by processes run with
    // TT_ALLOC_EVENTS=1).
    const all = $('events-all').checked;
    const es = new EventSource('api/events?backlog=100' + (all ? '' : '&kinds=attach,exit,reap'));
    eventSource = es;
    es.addEventListener('status', (msg) => {
      let st;
      try { st = JSON.parse(msg.data); } catch (err) { return; }
      streamEvents = !!(st && st.up && st.events);
      $('events-source').textContent = streamEvents ? 'live from the segment\u2019s event ring'
        : st && st.up ? 'seen by polling (this segment keeps no event ring)'
          : 'waiting for the segment';
    });
    es.addEventListener('message', (msg) => {
      let e;
      try { e = JSON.parse(msg.data); } catch (err) { return; }
      if (!e || typeof e !== 'object') return;
      const t = Number(e.t) || Date.now() / 1000;
      addEvent(t, String(e.event || 'event'), e);
      if (e.event === 'reap' && Number(e.size) > 0) {
        addLeak({ t, pid: e.pid, name: knownNames.has(e.pid) ? knownNames.get(e.pid) : '?',
          device: e.device === undefined ? null : e.device,
          buffers: Number(e.buffers) || 0, bytes: Number(e.size) || 0 });
      }
    });
    es.addEventListener('error', () => {
      // A refused stream ends for good; the page then derives what it can
      // from its snapshots.
      if (es.readyState === EventSource.CLOSED) {
        streamEvents = false;
        $('events-source').textContent = 'seen by polling (no event stream)';
      }
    });
  }

  // Without the segment's stream: what changed between two snapshots.
  function deriveEvents(snap, t) {
    const rows = new Map();
    for (const p of snap.processes) {
      const key = p.slot + ':' + p.generation;
      let r = rows.get(key);
      if (!r) {
        r = { pid: p.pid, name: p.name, devices: [], bytes: 0, buffers: 0 };
        rows.set(key, r);
      }
      knownNames.set(p.pid, p.name);
      if (p.device !== null) r.devices.push(p.device);
      r.bytes += sumTypes(p.used, TYPES);
      r.buffers += Number(p.buffers) || 0;
    }
    while (knownNames.size > 4096) knownNames.delete(knownNames.keys().next().value);
    const counters = snap.segment.counters || {};
    if (lastRows) {
      const gone = [];
      for (const [key, r] of rows) {
        if (!lastRows.has(key) && !streamEvents) {
          addEvent(t, 'attach', 'PID ' + r.pid + ' (' + r.name + ') attached' +
            (r.devices.length ? ' on device ' + r.devices.join(', ') : ''));
        }
      }
      for (const [key, r] of lastRows) {
        if (rows.has(key)) continue;
        gone.push(r);
        if (!streamEvents) {
          addEvent(t, 'exit', 'PID ' + r.pid + ' (' + r.name + ') left' +
            (r.bytes ? ' holding ' + fmtBytes(r.bytes) : ''));
        }
      }
      // The reaper counts each process it reclaimed with allocations left:
      // those that vanished holding memory while the count rose are the
      // leak reports (the biggest first when several went at once).
      const newLeaks = (Number(counters.leaky_processes) || 0) -
        (Number(lastCounters && lastCounters.leaky_processes) || 0);
      if (!streamEvents && newLeaks > 0) {
        gone.filter((r) => r.bytes > 0).sort((a, b) => b.bytes - a.bytes)
          .slice(0, newLeaks).forEach((r) => {
            addLeak({ t, pid: r.pid, name: r.name, device: r.devices.length ? r.devices.join(',') : null,
              buffers: r.buffers, bytes: r.bytes });
            addEvent(t, 'leak', 'PID ' + r.pid + ' (' + r.name + ') reaped holding ' +
              fmtBytes(r.bytes) + ' in ' + r.buffers + ' buffers');
          });
      }
    }
    lastRows = rows;
    lastCounters = counters;
  }

  /* ---- history and charts -------------------------------------------------- */

  function recordHistory(snap, t) {
    for (const d of snap.devices) {
      let h = history.get(d.id);
      if (!h) { h = []; history.set(d.id, h); }
      if (h.length && h[h.length - 1].t >= t) continue;
      h.push({ t, used: d.used });
    }
    for (const [id, h] of history) {
      while (h.length && h[0].t < t - HISTORY_SECONDS - 5) h.shift();
      if (!h.length) history.delete(id);
    }
  }

  async function loadServerHistory() {
    try {
      const res = await fetch('api/history', { cache: 'no-store' });
      if (!res.ok) return;
      const doc = await res.json();
      const devs = doc && doc.history && doc.history.available && doc.history.devices;
      if (!Array.isArray(devs)) return;
      for (const d of devs) {
        const own = history.get(d.id) || [];
        const samples = (d.samples || []).filter((s) => s && s.used).map((s) => ({ t: Number(s.t), used: s.used }));
        const first = own.length ? own[0].t : Infinity;
        history.set(d.id, samples.filter((s) => s.t < first).concat(own));
      }
      historySource = 'from the segment\u2019s history';
      $('history-source').textContent = historySource;
      drawCharts();
    } catch (err) { /* no history: the page keeps its own */ }
  }

  function niceStep(raw) {
    // Steps of 1, 2 or 5 times a power of 1024 (so labels read 256MiB, 1GiB).
    if (raw <= 0) return 1;
    let unit = 1;
    while (raw / unit >= 1024) unit *= 1024;
    const x = raw / unit;
    const steps = [1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 512, 1024];
    for (const s of steps) if (s >= x) return s * unit;
    return 1024 * unit;
  }

  function prepareCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return null;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  // Step lines: a value holds until the next sample (idle periods have
  // none), and the last one holds until now.
  function tracePath(ctx, points, x, y, tEnd) {
    let started = false, prevY = 0;
    for (const p of points) {
      const px = x(p.t), py = y(p.v);
      if (!started) { ctx.moveTo(px, py); started = true; } else { ctx.lineTo(px, prevY); ctx.lineTo(px, py); }
      prevY = py;
    }
    if (started) ctx.lineTo(x(tEnd), prevY);
    return started;
  }

  function drawChart(canvas, series, tEnd, legend) {
    const c = prepareCanvas(canvas);
    if (!c) return;
    const { ctx, w, h } = c;
    const padL = 62, padR = 12, padT = 10, padB = 22;
    const tStart = tEnd - HISTORY_SECONDS;
    let ymax = 0;
    for (const s of series) for (const p of s.points) ymax = Math.max(ymax, p.v);
    const step = niceStep(ymax / 4 || 1);
    const top = Math.max(step, Math.ceil(ymax / step) * step);
    const x = (t) => padL + (w - padL - padR) * (t - tStart) / HISTORY_SECONDS;
    const y = (v) => h - padB - (h - padT - padB) * v / top;
    ctx.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
    ctx.fillStyle = '#8b96a5';
    ctx.strokeStyle = '#2a323d';
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let v = 0; v <= top + step / 2; v += step) {
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(padL, py); ctx.lineTo(w - padR, py); ctx.stroke();
      ctx.fillText(fmtBytes(v), padL - 8, py);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    for (let m = 10; m >= 0; m -= 2) {
      const px = x(tEnd - m * 60);
      ctx.fillText(m ? '-' + m + 'm' : 'now', Math.min(px, w - padR - 12), h - 6);
    }
    legend.replaceChildren();
    series.forEach((s) => {
      if (!s.points.length) return;
      ctx.save();
      ctx.beginPath();
      ctx.rect(padL, padT - 2, w - padL - padR, h - padT - padB + 4);
      ctx.clip();
      ctx.beginPath();
      if (tracePath(ctx, s.points, x, y, tEnd)) {
        ctx.strokeStyle = s.color;
        ctx.lineWidth = 2;
        ctx.lineJoin = 'round';
        ctx.stroke();
        ctx.lineTo(x(tEnd), y(0));
        ctx.lineTo(x(s.points[0].t), y(0));
        ctx.closePath();
        ctx.globalAlpha = 0.10;
        ctx.fillStyle = s.color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
      ctx.restore();
      const item = el('span', null, s.label + ' ' + fmtBytes(s.points[s.points.length - 1].v));
      item.style.setProperty('--c', s.color);
      legend.append(item);
    });
  }

  function drawSpark(canvas, points, capacity, tEnd) {
    const c = prepareCanvas(canvas);
    if (!c) return;
    const { ctx, w, h } = c;
    const tStart = tEnd - HISTORY_SECONDS;
    ctx.strokeStyle = '#2a323d';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, h - 1.5);
    ctx.lineTo(w, h - 1.5);
    ctx.stroke();
    for (const [pool, color] of [['dram', cssVar('--dram')], ['l1', cssVar('--l1')]]) {
      const cap = capacity[pool] || Math.max(1, ...points.map((p) => p[pool]));
      const x = (t) => w * (t - tStart) / HISTORY_SECONDS;
      const y = (v) => h - 2 - (h - 4) * Math.min(1, v / cap);
      ctx.beginPath();
      if (tracePath(ctx, points.map((p) => ({ t: p.t, v: p[pool] })), x, y, tEnd)) {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
    }
  }

  function drawCharts() {
    const snap = lastSnapshot;
    const tEnd = snap ? snap.timestamp_ns / 1e9 : Date.now() / 1000;
    const ids = [...history.keys()].sort((a, b) => a - b);
    const dram = [], l1 = [];
    ids.forEach((id, i) => {
      const h = history.get(id).filter((s) => s.t >= tEnd - HISTORY_SECONDS - 5);
      const color = SERIES_COLORS[i % SERIES_COLORS.length];
      dram.push({ label: 'device ' + id, color, points: h.map((s) => ({ t: s.t, v: sumTypes(s.used, POOL_TYPES.dram) })) });
      l1.push({ label: 'device ' + id, color, points: h.map((s) => ({ t: s.t, v: sumTypes(s.used, POOL_TYPES.l1) })) });
    });
    drawChart($('chart-dram'), dram, tEnd, $('legend-dram'));
    drawChart($('chart-l1'), l1, tEnd, $('legend-l1'));
    if (!snap) return;
    for (const d of snap.devices) {
      const card = cards.get(d.id);
      const h = history.get(d.id);
      if (!card || !h) continue;
      drawSpark(card.spark, h.map((s) => ({
        t: s.t, dram: sumTypes(s.used, POOL_TYPES.dram), l1: sumTypes(s.used, POOL_TYPES.l1),
      })), { dram: Number(d.total.dram) || 0, l1: Number(d.total.l1) || 0 }, tEnd);
    }
  }

  /* ---- the poll loop ------------------------------------------------------- */

  function setStatus(kind, text) {
    const s = $('status');
    s.className = 'pill pill-' + kind;
    s.textContent = text;
  }
  function showBanner(title, text) {
    $('banner-title').textContent = title;
    $('banner-text').textContent = text;
    $('banner').hidden = false;
  }

  function renderUp(snap) {
    const t = snap.timestamp_ns / 1e9;
    lastSnapshot = snap;
    $('banner').hidden = true;
    setStatus('live', 'live');
    $('segment').textContent = snap.segment.name;
    $('updated').textContent = 'updated ' + fmtTime(t);
    $('version').textContent = 'tt-alloc-exporter ' + (snap.tool && snap.tool.version || '');
    if (lastUp === false) addEvent(t, 'segment', 'segment ' + snap.segment.name + ' is readable again');
    lastUp = true;
    renderTiles(snap);
    renderDevices(snap);
    renderProcesses(snap);
    deriveEvents(snap, t);
    if (streamEvents && events.length) scheduleEvents(); // names learnt from this snapshot
    recordHistory(snap, t);
    drawCharts();
  }

  function renderDown(doc) {
    const t = Date.now() / 1000;
    setStatus('down', 'no segment');
    const name = doc && doc.segment ? doc.segment : '?';
    $('segment').textContent = name;
    $('updated').textContent = 'checked ' + fmtTime(t);
    showBanner('No readable tt-alloc segment (' + name + ')',
      (doc && doc.error ? doc.error + '. ' : '') +
      'The exporter keeps looking: this page fills in as soon as a tracked process, ' +
      'the reaper or tt-alloc-bridge creates it.');
    if (lastUp === true) addEvent(t, 'segment', 'segment ' + name + ' can no longer be read');
    lastUp = false;
    lastRows = null;
    lastSnapshot = null;
    renderDevices({ devices: [] });
    renderProcesses({ processes: [] });
  }

  async function poll() {
    try {
      const res = await fetch('api/snapshot', { cache: 'no-store' });
      let doc = null;
      try { doc = await res.json(); } catch (err) { doc = null; }
      if (res.ok && doc && doc.devices) renderUp(doc);
      else renderDown(doc);
    } catch (err) {
      setStatus('wait', 'exporter unreachable');
      showBanner('The exporter does not answer', 'Retrying every second (' + err.message + ').');
    }
    setTimeout(poll, POLL_MS);
  }

  $('host').textContent = window.location.host;
  $('history-source').textContent = historySource;
  $('events-source').textContent = '';
  window.addEventListener('resize', drawCharts);
  $('events-all').addEventListener('change', startEventStream);
  startEventStream();
  loadServerHistory();
  poll();
})();
