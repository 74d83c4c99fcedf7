// The recsys mesh console: one user's history, recommendations, degraded stages and
// per-stage timings, from the gateway's own HTTP API. Every value that comes from data is
// written with textContent (never innerHTML), so nothing in an id can become markup.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const STAGE_NAMES = {
    STAGE_USER_CONTEXT: 'user context',
    STAGE_CANDIDATES: 'candidates',
    STAGE_ITEM_FEATURES: 'item features',
    STAGE_RANKING: 'ranking',
    STAGE_BUSINESS_RULES: 'business rules',
  };
  const SOURCE_NAMES = {
    RETRIEVAL_SOURCE_EMBEDDING: 'embedding',
    RETRIEVAL_SOURCE_POPULARITY: 'popularity',
    RETRIEVAL_SOURCE_COVISITATION: 'co-visitation',
  };
  let previous = null; // { user, items: [itemId…] } of the last answer shown
  let lastChange = '';

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => ({ message: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(json.message || `HTTP ${res.status}`);
    return json;
  }

  function setStatus(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : 'muted';
  }

  /** Seconds of a proto3 JSON duration ("0.001500s"). */
  const seconds = (d) => (typeof d === 'string' && d.endsWith('s') ? Number(d.slice(0, -1)) : 0);

  function renderHistory(ctx) {
    const list = $('history');
    list.replaceChildren(...ctx.recentItemIds.map((id) => el('li', id)));
    $('history-empty').hidden = ctx.recentItemIds.length > 0;
    $('known').textContent = ctx.userKnown ? `known user · snapshot ${ctx.snapshotVersion}` : 'unknown user';
    const counts = (ctx.realtime && ctx.realtime.counts) || [];
    $('counts').textContent = counts.length
      ? 'Events: ' + counts.filter((c) => c.count > 0).map((c) => `${c.count} ${c.eventType} in ${c.windowSeconds} s`).join(', ')
      : '';
  }

  function renderRecommendations(user, res) {
    const before = previous && previous.user === user ? previous.items : null;
    const body = $('recs').querySelector('tbody');
    body.replaceChildren();
    res.items.forEach((item, i) => {
      const tr = el('tr');
      tr.dataset.item = item.itemId;
      tr.append(el('td', i + 1), el('td', item.itemId), el('td', Number(item.score).toFixed(4), 'score'), el('td', SOURCE_NAMES[item.source] || item.source));
      let change = '';
      let cls = '';
      if (before) {
        const was = before.indexOf(item.itemId);
        if (was < 0) [change, cls] = ['new', 'new'];
        else if (was > i) [change, cls] = [`▲ ${was - i}`, 'up'];
        else if (was < i) [change, cls] = [`▼ ${i - was}`, 'down'];
      }
      tr.append(el('td', change, cls));
      const actions = el('td');
      for (const type of ['click', 'view']) {
        const b = el('button', type);
        b.type = 'button';
        b.className = `send-${type}`;
        b.title = `send a ${type} event for ${item.itemId}, then recommend again`;
        b.addEventListener('click', () => sendEvent(user, item.itemId, type));
        actions.append(b);
      }
      tr.append(actions);
      body.append(tr);
    });
    if (before) {
      const now = res.items.map((x) => x.itemId);
      const added = now.filter((id) => !before.includes(id));
      const removed = before.filter((id) => !now.includes(id));
      const moved = now.filter((id, i) => before.includes(id) && before.indexOf(id) !== i).length;
      lastChange = `${lastChange ? lastChange + ' → ' : ''}${added.length} new, ${removed.length} dropped${removed.length ? ` (${removed.join(', ')})` : ''}, ${moved} moved`;
      $('change').textContent = lastChange;
      $('change').hidden = false;
    } else {
      $('change').hidden = true;
    }
    $('versions').textContent = `model ${res.modelVersion || '(none: ranking degraded)'} · artifact ${res.artifactVersion}`;
    const degraded = res.degradedStages || [];
    $('degraded').hidden = degraded.length === 0;
    $('degraded-list').replaceChildren(...degraded.map((d) => el('li', `${STAGE_NAMES[d.stage] || d.stage}: ${d.reason}`)));
    previous = { user, items: res.items.map((x) => x.itemId) };
  }

  function renderTimings(timings) {
    const chart = $('timings');
    const max = Math.max(1e-9, ...timings.map((t) => seconds(t.duration)));
    let total = 0;
    chart.replaceChildren(
      ...timings.map((t) => {
        const s = seconds(t.duration);
        total += s;
        const row = el('div', undefined, 'row');
        row.dataset.stage = t.stage;
        const bar = el('div', undefined, 'bar');
        bar.style.width = `${Math.max(0.5, (100 * s) / max)}%`;
        const track = el('div');
        track.append(bar);
        row.append(el('span', STAGE_NAMES[t.stage] || t.stage), track, el('span', `${(s * 1000).toFixed(2)} ms`, 'ms'));
        return row;
      }),
    );
    $('total').textContent = timings.length ? `sum ${(total * 1000).toFixed(2)} ms` : '';
  }

  async function run(user, k) {
    setStatus('…');
    $('go').disabled = true;
    try {
      const [ctx, res] = await Promise.all([
        api('GET', `/v1/users/${encodeURIComponent(user)}/context?maxRecentItems=50`),
        api('POST', '/v1/recommendations', { userId: user, k, debug: true }),
      ]);
      renderHistory(ctx);
      renderRecommendations(user, res);
      renderTimings(res.timings || []);
      setStatus(`${res.items.length} items`);
      document.body.dataset.state = 'ready';
    } catch (err) {
      setStatus(err.message, true);
      document.body.dataset.state = 'error';
    } finally {
      $('go').disabled = false;
    }
  }

  async function sendEvent(user, itemId, type) {
    const rand = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
    try {
      await api('POST', '/v1/events', { events: [{ eventId: `console-${rand}`, userId: user, itemId, eventType: type, eventTimeUnixMs: Date.now() }] });
      setStatus(`sent ${type} on ${itemId}`);
      await run(user, currentK());
    } catch (err) {
      setStatus(err.message, true);
    }
  }

  const currentK = () => Math.min(100, Math.max(1, Number($('k').value) || 10));

  $('ask').addEventListener('submit', (e) => {
    e.preventDefault();
    const user = $('user').value.trim();
    if (!user) return;
    if (!previous || previous.user !== user) lastChange = '';
    history.replaceState(null, '', `?user=${encodeURIComponent(user)}`);
    run(user, currentK());
  });
  const initial = new URLSearchParams(location.search).get('user');
  if (initial) {
    $('user').value = initial;
    run(initial, currentK());
  }
})();
