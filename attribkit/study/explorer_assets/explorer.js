// The study explorer (inlined into explorer.html by attribkit.study._explorer). Vanilla JavaScript, no
// network. Every name from the study (photos, classes, methods, settings) goes into the page as text
// (textContent, setAttribute), never as markup.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('study-data').textContent);
  var MAPS = null;  // parsed on first use: the table needs none of it
  function maps() {
    if (MAPS === null) MAPS = JSON.parse(document.getElementById('study-maps').textContent);
    return MAPS;
  }

  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }
  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  var COUNTS = {images: true, fallbacks: true};
  function fmt(v, key) {
    if (v === null || v === undefined) return 'n/a';
    if (typeof v !== 'number') return String(v);
    if (COUNTS[key] || key === 'ms_per_photo') return v.toFixed(0);
    return v.toFixed(3);
  }
  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
                 '#bcbd22', '#17becf', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94',
                 '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5'];
  function colour(method) { return PALETTE[Math.max(0, D.methods.indexOf(method)) % PALETTE.length]; }
  function baselineMethod(method) {
    return D.rows.some(function (r) { return r.method === method && r.baseline && !r.blind; });
  }

  // ---- header and tabs ------------------------------------------------------------------------------
  var views = {};
  var nav = el('nav', {role: 'tablist'});
  var header = el('header', null, el('h1', {text: D.title}));
  var facts = el('p', {'class': 'facts'});
  Object.keys(D.settings).forEach(function (k) { facts.appendChild(el('span', {text: k + ': ' + D.settings[k]})); });
  header.appendChild(facts);
  header.appendChild(nav);
  var main = el('main');
  document.body.appendChild(header);
  document.body.appendChild(main);
  function addView(id, name) {
    var section = el('section', {id: 'view-' + id, role: 'tabpanel', hidden: true});
    var button = el('button', {type: 'button', role: 'tab', id: 'tab-' + id, 'aria-selected': 'false', text: name,
                               onclick: function () { show(id); }});
    nav.appendChild(button);
    main.appendChild(section);
    views[id] = {section: section, button: button, drawn: false};
    return section;
  }
  var drawers = {};
  function show(id) {
    Object.keys(views).forEach(function (k) {
      views[k].section.hidden = k !== id;
      views[k].button.setAttribute('aria-selected', k === id ? 'true' : 'false');
    });
    if (!views[id].drawn) { views[id].drawn = true; drawers[id](); }
    if (location.hash !== '#' + id) history.replaceState(null, '', '#' + id);
  }

  // ---- results table --------------------------------------------------------------------------------
  var resultsView = addView('results', 'Results');
  var sort = {key: null, dir: 1};
  function cellValue(row, key) {
    if (key === 'label') return row.label;
    var v = row.cells[key];
    return v === undefined ? null : v;
  }
  function sortedRows() {
    var rows = D.rows.slice();
    if (sort.key === null) return rows;
    rows.sort(function (a, b) {
      var x = cellValue(a, sort.key), y = cellValue(b, sort.key);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // unmeasured last, whichever the direction
      if (y === null) return -1;
      if (typeof x === 'number' && typeof y === 'number') return sort.dir * (x - y);
      return sort.dir * String(x).localeCompare(String(y));
    });
    return rows;
  }
  function drawTable() {
    var old = resultsView.querySelector('.table-wrap');
    var table = el('table', {'class': 'results', id: 'results-table'});
    var head = el('tr');
    var columns = [{key: 'label', title: 'the row: its name, and the settings that made it'}].concat(D.columns);
    columns.forEach(function (c) {
      var better = c.higher === true ? 'higher is better' : c.higher === false ? 'lower is better' : '';
      // Columns that are not a mean of per-photo values (MaxBoxAcc is a maximum over thresholds; the
      // top-k errors are the classifier's) have no paired test, so no best / \u2248 / \u2260 marks.
      var unpaired = c.key !== 'label' && better && !c.paired ? '; no best/\u2248/\u2260 marks: not a mean of ' +
        'per-photo values, so no paired comparison' : '';
      var th = el('th', {scope: 'col', title: c.title + (better ? ' (' + better + ')' : '') + unpaired,
                         'data-key': c.key, tabindex: '0'});
      // Long names break after their underscores, so the table needs less width.
      (c.key === 'label' ? ['setting'] : c.key.split('_')).forEach(function (part, i, parts) {
        th.appendChild(document.createTextNode(part + (i < parts.length - 1 ? '_' : '')));
        if (i < parts.length - 1) th.appendChild(el('wbr'));
      });
      if (better) th.appendChild(el('span', {'class': 'better', 'aria-label': better, text: c.higher ? ' \u2191' : ' \u2193'}));
      th.setAttribute('aria-sort', sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      function click() {
        if (sort.key === c.key) sort.dir = -sort.dir;
        else { sort.key = c.key; sort.dir = c.higher === true ? -1 : 1; }  // best first on the first click
        drawTable();
      }
      th.addEventListener('click', click);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); click(); } });
      head.appendChild(th);
    });
    table.appendChild(el('thead', null, head));
    var body = el('tbody');
    sortedRows().forEach(function (row) {
      var tr = el('tr', {'class': row.baseline ? 'baseline' : null, 'data-row': row.key});
      var label = el('td', {'class': 'label'}, el('span', {'class': 'name', text: row.label}));
      if (row.baseline) label.appendChild(el('span', {'class': 'badge baseline', title: row.baseline, text: 'baseline'}));
      label.appendChild(el('span', {'class': 'settings', text: row.settings}));
      if (row.baseline) label.appendChild(el('span', {'class': 'settings', text: row.baseline}));
      tr.appendChild(label);
      D.columns.forEach(function (c) {
        var v = row.cells[c.key];
        var td = el('td', {'class': 'num', 'data-key': c.key, 'data-value': v === undefined ? '' : String(v)});
        if (v === undefined) {
          var why = row.blind && c.map ? 'not this row\'s: ' + row.localiser + ' ignores the map' : 'not measured';
          td.appendChild(el('span', {'class': 'na', title: why, text: row.blind && c.map ? '\u2014' : 'n/a'}));
        } else {
          td.appendChild(document.createTextNode(fmt(v, c.key)));
          var verdict = row.verdicts[c.key];
          if (verdict) {
            var mark = verdict.verdict === 'best' ? 'best' : verdict.verdict === 'tie' ? '\u2248 best' : '\u2260 best';
            td.appendChild(el('span', {'class': 'verdict ' + verdict.verdict, title: verdict.text, text: mark}));
          }
          var ci = row.intervals[c.key];
          if (ci) td.appendChild(el('span', {'class': 'ci', text: '[' + fmt(ci[0], c.key) + ', ' + fmt(ci[1], c.key) + ']'}));
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    var wrap = el('div', {'class': 'table-wrap', tabindex: '0', 'aria-label': 'results table; scrolls sideways'}, table);
    if (old) resultsView.replaceChild(wrap, old); else resultsView.insertBefore(wrap, resultsView.firstChild);
    // Wider than the window: say so (overlay scrollbars are invisible until touched).
    var hint = resultsView.querySelector('.scroll-hint');
    if (!hint) {
      hint = el('p', {'class': 'scroll-hint', id: 'scroll-hint', text: 'The table is wider than the window: ' +
                      'scroll it sideways (shift + wheel, or drag its scrollbar) for the columns on the right \u2192'});
      resultsView.insertBefore(hint, wrap);
    }
    hint.hidden = wrap.scrollWidth <= wrap.clientWidth + 1;
  }
  window.addEventListener('resize', function () {
    var wrap = resultsView.querySelector('.table-wrap'), hint = resultsView.querySelector('.scroll-hint');
    if (wrap && hint) hint.hidden = wrap.scrollWidth <= wrap.clientWidth + 1;
  });
  drawers.results = function () {
    drawTable();
    resultsView.appendChild(el('p', {'class': 'note', text:
      'Click a column to sort (again to reverse); \u2191 in its name: higher is better, \u2193: lower is better. ' +
      'Below each mean: its 95% bootstrap interval (photos resampled). ' +
      '"best" marks the best contender of a column; "\u2248 best": not distinguishable from it, "\u2260 best": ' +
      'differs from it (95% paired bootstrap interval excludes 0 and the paired test\'s p < 0.05; hover for the ' +
      'numbers). Baselines (a blind centred box, a random map) are compared but never the best; a blind row ' +
      'shows \u2014 for the map\'s metrics, which are not its own. Columns that are not a mean of per-photo ' +
      'values (max_box_acc, max_box_acc_v2: a maximum over thresholds; top1_error, top5_error) have no paired ' +
      'test, so no marks.'}));
    if (Object.keys(D.skipped).length) {
      resultsView.appendChild(el('h3', {text: Object.keys(D.skipped).length + ' photo(s) skipped (not in the table)'}));
      var ul = el('ul');
      Object.keys(D.skipped).forEach(function (k) { ul.appendChild(el('li', null, el('code', {text: k}), ': ' + D.skipped[k])); });
      resultsView.appendChild(ul);
    }
  };

  // ---- photos ---------------------------------------------------------------------------------------
  var photosView = addView('photos', 'Photos');
  var state = {threshold: 0.2, component: 'largest', map: true, truth: true, boxes: true, tbox: true,
               current: 0, cls: '', correct: '', a: '', b: '', disagree: false};
  var boxRows = D.rows.filter(function (r) { return D.boxes[r.key]; });
  function hit(rowKey, i) {
    var entry = D.boxes[rowKey] && D.boxes[rowKey][i];
    if (!entry || entry[1] === null || entry[1] === undefined) return null;
    return entry[1] >= 0.5;
  }
  function disagrees(i) {
    var keys = state.a && state.b ? [state.a, state.b] : boxRows.map(function (r) { return r.key; });
    var outcomes = keys.map(function (k) { return hit(k, i); }).filter(function (h) { return h !== null; });
    return outcomes.indexOf(true) >= 0 && outcomes.indexOf(false) >= 0;
  }
  function matches(p, i) {
    if (state.cls && p['class'] !== state.cls) return false;
    if (state.correct === 'correct' && p.correct !== true) return false;
    if (state.correct === 'incorrect' && p.correct !== false) return false;
    if (state.disagree && !disagrees(i)) return false;
    return true;
  }
  var list, countLine, detail;
  function select(labelText, options, key, id) {
    var s = el('select', {id: id, onchange: function () { state[key] = s.value; drawList(); }});
    options.forEach(function (o) { s.appendChild(el('option', {value: o[0], text: o[1]})); });
    return [el('label', {'for': id, text: labelText}), s];
  }
  function drawList() {
    list.textContent = '';
    var shown = 0;
    D.photos.forEach(function (p, i) {
      if (!matches(p, i)) return;
      shown += 1;
      var b = el('button', {type: 'button', title: p.name, text: p.name, 'data-index': String(i),
                            'aria-current': i === state.current ? 'true' : 'false',
                            onclick: function () { state.current = i; drawList(); drawDetail(); }});
      list.appendChild(el('li', null, b));
    });
    countLine.textContent = shown + ' of ' + D.photos.length + ' photos';
    list.setAttribute('data-count', String(shown));
  }
  drawers.photos = function () {
    var side = el('div', {'class': 'sidebar'});
    var classes = Array.from(new Set(D.photos.map(function (p) { return p['class']; }).filter(Boolean))).sort();
    select('class', [['', 'every class']].concat(classes.map(function (c) { return [c, c]; })), 'cls', 'filter-class')
      .forEach(function (e) { side.appendChild(e); });
    select('the model\'s top class', [['', 'right or wrong'], ['correct', 'right (top-1 = label)'],
                                       ['incorrect', 'wrong (top-1 \u2260 label)']], 'correct', 'filter-correct')
      .forEach(function (e) { side.appendChild(e); });
    var dis = el('input', {type: 'checkbox', id: 'filter-disagree', onchange: function () { state.disagree = dis.checked; drawList(); }});
    side.appendChild(el('label', {'for': 'filter-disagree'}, dis, ' only where rows disagree (one boxes the object, IoU \u2265 0.5, another does not)'));
    var rowOptions = [['', 'any row']].concat(boxRows.map(function (r) { return [r.key, r.label]; }));
    select('between', rowOptions, 'a', 'filter-a').forEach(function (e) { side.appendChild(e); });
    select('and', rowOptions, 'b', 'filter-b').forEach(function (e) { side.appendChild(e); });
    countLine = el('p', {'class': 'count', id: 'photo-count'});
    list = el('ul', {'class': 'photo-list', id: 'photo-list'});
    side.appendChild(countLine);
    side.appendChild(list);
    detail = el('div', {'class': 'detail', id: 'photo-detail'});
    photosView.appendChild(el('div', {'class': 'photos'}, side, detail));
    drawList();
    drawDetail();
  };

  var decoded = {};  // "method|index" -> {w, h, values}
  function mapValues(method, i) {
    var key = method + '\u241f' + i;
    if (decoded[key]) return decoded[key];
    var png = (maps()[method] || [])[i];
    if (!png) return Promise.resolve(null);
    decoded[key] = new Promise(function (resolve) {
      var img = new Image();
      img.onload = function () {
        var c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        var ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        var rgba = ctx.getImageData(0, 0, c.width, c.height).data;
        var values = new Uint8Array(c.width * c.height);
        for (var k = 0; k < values.length; k++) values[k] = rgba[4 * k];
        resolve({w: c.width, h: c.height, values: values, heat: heat(c.width, c.height, values)});
      };
      img.onerror = function () { resolve(null); };
      img.src = 'data:image/png;base64,' + png;
    });
    return decoded[key];
  }
  function heat(w, h, values) {
    // A perceptual ramp (dark blue -> yellow) with transparency rising with the value; 0 = outside the crop.
    var c = document.createElement('canvas');
    c.width = w; c.height = h;
    var ctx = c.getContext('2d');
    var img = ctx.createImageData(w, h);
    for (var k = 0; k < values.length; k++) {
      var v = values[k];
      if (v === 0) { img.data[4 * k + 3] = 0; continue; }
      var t = (v - 1) / 254;
      img.data[4 * k] = Math.round(255 * Math.min(1, 1.8 * t));
      img.data[4 * k + 1] = Math.round(255 * Math.max(0, 1.25 * t - 0.25));
      img.data[4 * k + 2] = Math.round(255 * Math.max(0, 0.6 - t));
      img.data[4 * k + 3] = Math.round(60 + 170 * t);
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  // The threshold box: pixels at or above the fraction of the map's range, their largest 4-connected
  // component (Zhou et al. 2016) or all of them; in the map's pixels [x0, y0, x1, y1) or null.
  function thresholdBox(m, fraction, component) {
    var w = m.w, h = m.h, v = m.values, cut = 1 + fraction * 254;
    var mask = new Uint8Array(w * h), any = false;
    for (var k = 0; k < v.length; k++) if (v[k] > 0 && v[k] >= cut - 1e-9) { mask[k] = 1; any = true; }
    if (!any) return null;
    if (component === 'largest') {
      var label = new Int32Array(w * h), best = 0, bestSize = 0, next = 0, stack = [];
      for (var s = 0; s < w * h; s++) {
        if (!mask[s] || label[s]) continue;
        next += 1; label[s] = next; stack.push(s);
        var size = 0;
        while (stack.length) {
          var q = stack.pop(); size += 1;
          var x = q % w, y = (q - x) / w;
          var nb = [x > 0 ? q - 1 : -1, x < w - 1 ? q + 1 : -1, y > 0 ? q - w : -1, y < h - 1 ? q + w : -1];
          for (var n = 0; n < 4; n++) if (nb[n] >= 0 && mask[nb[n]] && !label[nb[n]]) { label[nb[n]] = next; stack.push(nb[n]); }
        }
        if (size > bestSize) { bestSize = size; best = next; }
      }
      for (var k2 = 0; k2 < mask.length; k2++) mask[k2] = label[k2] === best ? 1 : 0;
    }
    var x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (var k3 = 0; k3 < mask.length; k3++) {
      if (!mask[k3]) continue;
      var xx = k3 % w, yy = (k3 - xx) / w;
      if (xx < x0) x0 = xx; if (xx > x1) x1 = xx; if (yy < y0) y0 = yy; if (yy > y1) y1 = yy;
    }
    return [x0, y0, x1 + 1, y1 + 1];
  }
  function iou(a, b) {
    var w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
    if (w <= 0 || h <= 0) return 0;
    var inter = w * h;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
  }
  var photoImages = {};
  function photoImage(p) {
    if (!p.thumb) return Promise.resolve(null);
    if (!photoImages[p.thumb]) photoImages[p.thumb] = new Promise(function (resolve) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { resolve(null); };
      img.src = p.thumb;  // a relative path beside the page (explorer/...), set as an attribute value
    });
    return photoImages[p.thumb];
  }
  var figures = [];
  function drawDetail() {
    detail.textContent = '';
    figures = [];
    var p = D.photos[state.current];
    if (!p) { detail.appendChild(el('p', {text: 'No photos with maps in this study.'})); return; }
    detail.appendChild(el('h2', {id: 'photo-name', text: p.name}));
    var about = [p['class'] ? 'class: ' + p['class'] : null,
                 p.predicted !== undefined ? 'model\'s top class: ' + p.predicted + (p.correct ? ' (right)' : ' (wrong)') : null,
                 p.truth ? p.truth.length + ' ground-truth box(es), green' : 'no ground truth'].filter(Boolean);
    detail.appendChild(el('p', {'class': 'note', text: about.join(' \u00b7 ')}));
    var bar = el('div', {'class': 'toolbar'});
    [['map', 'map'], ['truth', 'ground truth'], ['boxes', 'localiser boxes (red; blind: grey)'], ['tbox', 'slider box (yellow, dashed)']]
      .forEach(function (o) {
        var box = el('input', {type: 'checkbox', id: 'overlay-' + o[0], checked: state[o[0]] ? true : null,
                               onchange: function () { state[o[0]] = box.checked; redraw(); }});
        bar.appendChild(el('label', null, box, ' ' + o[1]));
      });
    var out = el('output', {id: 'threshold-value', text: state.threshold.toFixed(2)});
    var slider = el('input', {type: 'range', id: 'threshold', min: '0', max: '1', step: '0.01', value: String(state.threshold),
                              'aria-label': 'map threshold, fraction of the map\'s range',
                              oninput: function () { state.threshold = parseFloat(slider.value); out.textContent = state.threshold.toFixed(2); redraw(); }});
    bar.appendChild(el('label', null, 'threshold ', slider, ' ', out));
    var comp = el('select', {id: 'threshold-component', onchange: function () { state.component = comp.value; redraw(); }});
    [['largest', 'largest component'], ['all', 'all pixels above']].forEach(function (o) {
      comp.appendChild(el('option', {value: o[0], text: o[1], selected: state.component === o[0] ? true : null}));
    });
    bar.appendChild(comp);
    detail.appendChild(bar);
    var grid = el('div', {'class': 'grid', id: 'photo-grid'});
    detail.appendChild(grid);
    grid.appendChild(figure(p, null));
    D.methods.forEach(function (m) { grid.appendChild(figure(p, m)); });
    redraw();
  }
  function figure(p, method) {
    var size = p.size || [4, 3];
    var scale = 200 / Math.max(size[0], size[1]);
    var canvas = el('canvas', {width: String(Math.round(size[0] * scale)), height: String(Math.round(size[1] * scale)),
                               'data-method': method === null ? '' : method});
    var caption = el('figcaption', null, el('span', {'class': 'm', text: method === null ? 'photo' : method}));
    var details = el('span', {'class': 'boxes'});
    caption.appendChild(el('br'));
    caption.appendChild(details);
    var f = el('figure', {'class': 'map', 'data-method': method === null ? '' : method}, canvas, caption);
    figures.push({canvas: canvas, method: method, photo: p, scale: scale, details: details});
    return f;
  }
  // A box is drawn at least MIN_BOX canvas pixels wide and high (grown about its centre) over a dark
  // underlay, so a box of a few photo pixels still shows on a busy map.
  var MIN_BOX = 8;
  function rect(ctx, b, scale, style, dash) {
    var x = b[0] * scale + 1, y = b[1] * scale + 1, w = (b[2] - b[0]) * scale - 2, h = (b[3] - b[1]) * scale - 2;
    if (w < MIN_BOX) { x -= (MIN_BOX - w) / 2; w = MIN_BOX; }
    if (h < MIN_BOX) { y -= (MIN_BOX - h) / 2; h = MIN_BOX; }
    ctx.save();
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.45)'; ctx.lineWidth = 4; ctx.setLineDash([]);
    ctx.strokeRect(x, y, w, h);
    ctx.strokeStyle = style; ctx.lineWidth = 2; ctx.setLineDash(dash || []);
    ctx.strokeRect(x, y, w, h);
    ctx.restore();
  }
  function redraw() {
    var index = state.current;
    figures.forEach(function (f) {
      Promise.all([photoImage(f.photo), f.method === null ? null : mapValues(f.method, index)]).then(function (got) {
        if (state.current !== index) return;
        var img = got[0], m = got[1], c = f.canvas, ctx = c.getContext('2d'), p = f.photo;
        ctx.clearRect(0, 0, c.width, c.height);
        if (img) ctx.drawImage(img, 0, 0, c.width, c.height);
        else { ctx.fillStyle = '#ccc'; ctx.fillRect(0, 0, c.width, c.height); }
        var texts = [];
        if (f.method !== null && !m) texts.push('no map stored (records of an older attribkit)');
        if (f.method !== null && m && state.map) {
          ctx.imageSmoothingEnabled = true;
          ctx.drawImage(m.heat, 0, 0, c.width, c.height);
        }
        if (state.truth && p.truth) p.truth.forEach(function (b) { rect(ctx, b, f.scale, '#1aa64a'); });
        if (f.method !== null) {
          D.rows.forEach(function (r) {
            if (r.method !== f.method || !D.boxes[r.key] || !D.boxes[r.key][index]) return;
            var entry = D.boxes[r.key][index];
            // The study's own box: from the full-resolution map (or, blind, from no map at all).
            texts.push('study\'s ' + r.localiser + ' box (' + (r.blind ? 'ignores the map' : 'full-size map') + ')' +
                       (entry[1] === null || entry[1] === undefined ? '' : ': IoU ' + entry[1].toFixed(2)) +
                       (entry[2] ? ' (fallback: ' + entry[2] + ')' : ''));
            if (state.boxes && entry[0]) rect(ctx, entry[0], f.scale, r.blind ? '#8d96a3' : '#e0322b', r.blind ? [2, 3] : null);
          });
          c.removeAttribute('data-threshold-box');
          if (m) {
            var tb = thresholdBox(m, state.threshold, state.component);
            if (tb) {
              var sx = p.size[0] / m.w, sy = p.size[1] / m.h;
              var box = [tb[0] * sx, tb[1] * sy, tb[2] * sx, tb[3] * sy].map(function (v) { return Math.round(v); });
              c.setAttribute('data-threshold-box', box.join(','));
              var best = p.truth ? Math.max.apply(null, p.truth.map(function (t) { return iou(box, t); })) : null;
              // Recomputed here from the small preview map stored in the page: at the same fraction it can
              // differ from the study's threshold box, which used the full-size map.
              texts.push('slider box (' + state.threshold.toFixed(2) + ', on the ' + m.w + '\u00d7' + m.h + '-px preview map)' +
                         (best === null ? '' : ': IoU ' + best.toFixed(2)));
              if (state.tbox) rect(ctx, box, f.scale, '#f2b705', [6, 3]);
            }
          }
        }
        f.details.textContent = '';
        texts.forEach(function (t) { f.details.appendChild(el('span', {'class': 'line', text: t})); });
        if (texts.length) f.details.title = 'The study\'s boxes come from the full-size map; the slider\'s box is ' +
          'recomputed in this page from a small preview of the map, so its IoU can differ at the same threshold.';
        c.setAttribute('data-drawn', String(Date.now()));
      });
    });
  }

  // ---- curves ---------------------------------------------------------------------------------------
  var curvesView = addView('curves', 'Curves');
  // [panel, title, x-axis label, the table's column its legend repeats, what that column averages]
  var PANELS = [['deletion', 'Deletion: class probability as the most salient pixels are deleted (lower area is better)', 'fraction deleted', 'deletion_auc', 'area under its curve'],
                ['insertion', 'Insertion: class probability as the most salient pixels are inserted (higher is better)', 'fraction inserted', 'insertion_auc', 'area under its curve'],
                ['road_morf', 'ROAD MoRF: most relevant removed first, imputed (lower is better)', 'fraction removed', 'road_morf', 'mean over its curve'],
                ['road_lerf', 'ROAD LeRF: least relevant removed first, imputed (higher is better)', 'fraction removed', 'road_lerf', 'mean over its curve'],
                ['sanity', 'Sanity check: Spearman of |map| with the trained model\'s as blocks are re-drawn (a map that explains the model falls)', 'blocks re-drawn from the logits', 'randomisation', 'mean over the re-drawn blocks']];
  // Round y ticks covering [lo, hi]: a step of 1, 2, 2.5 or 5 times a power of ten, 3 to 6 ticks.
  function niceTicks(lo, hi) {
    var raw = ((hi - lo) || 1) / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (f) { return f * power; }).filter(function (v) { return v >= raw; })[0];
    var start = Math.floor(lo / step + 1e-9) * step, end = Math.ceil(hi / step - 1e-9) * step, values = [];
    for (var v = start; v <= end + step / 2; v += step) values.push(Math.round(v / step) * step);
    var digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) + (Math.round(step / power * 10) % 10 ? 1 : 0);
    return {values: values, digits: digits};
  }
  function plot(panel) {
    // R leaves room for half of the last x label ("1.00"), centred on the plot's right edge.
    var W = 440, H = 260, L = 44, R = 18, T = 10, B = panel[0] === 'sanity' ? 70 : 34;
    var series = D.curves.panels[panel[0]];
    var s = svg('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': panel[1]});
    var xs = [], ys = [];
    Object.keys(series).forEach(function (m) { series[m].x.forEach(function (v) { xs.push(v); }); series[m].y.forEach(function (v) { if (v !== null) ys.push(v); }); });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min(0, Math.min.apply(null, ys)), y1 = Math.max(1, Math.max.apply(null, ys));
    if (panel[0] !== 'sanity') { y0 = 0; y1 = Math.max(1e-6, Math.max.apply(null, ys)) * 1.05; }
    var ticks = niceTicks(y0, y1);
    y0 = ticks.values[0]; y1 = ticks.values[ticks.values.length - 1];
    function px(v) { return L + (W - L - R) * (v - x0) / ((x1 - x0) || 1); }
    function py(v) { return H - B - (H - T - B) * (v - y0) / ((y1 - y0) || 1); }
    s.appendChild(svg('rect', {x: L, y: T, width: W - L - R, height: H - T - B, fill: '#fff', stroke: '#bbb'}));
    ticks.values.forEach(function (yv) {
      s.appendChild(svg('line', {x1: L, x2: W - R, y1: py(yv), y2: py(yv), stroke: '#eee'}));
      var t = svg('text', {x: L - 4, y: py(yv) + 3, 'text-anchor': 'end', 'font-size': 10, 'class': 'ytick'});
      t.textContent = yv.toFixed(ticks.digits); s.appendChild(t);
    });
    if (panel[0] === 'sanity') {
      s.appendChild(svg('line', {x1: L, x2: W - R, y1: py(0.5), y2: py(0.5), stroke: '#999', 'stroke-dasharray': '4 3'}));
      D.curves.layers.forEach(function (name, i) {
        var t2 = svg('text', {x: px(i), y: H - B + 12, 'font-size': 9, 'text-anchor': 'end', transform: 'rotate(-45 ' + px(i) + ' ' + (H - B + 12) + ')'});
        t2.textContent = name; s.appendChild(t2);
      });
    } else {
      for (var j = 0; j <= 4; j++) {
        var xv = x0 + (x1 - x0) * j / 4;
        var t3 = svg('text', {x: px(xv), y: H - B + 13, 'text-anchor': 'middle', 'font-size': 10}); t3.textContent = xv.toFixed(2); s.appendChild(t3);
      }
    }
    var xl = svg('text', {x: (L + W - R) / 2, y: H - 3, 'text-anchor': 'middle', 'font-size': 11}); xl.textContent = panel[2]; s.appendChild(xl);
    Object.keys(series).forEach(function (m) {
      var pts = [];
      series[m].x.forEach(function (xv2, i) { if (series[m].y[i] !== null) pts.push(px(xv2).toFixed(1) + ',' + py(series[m].y[i]).toFixed(1)); });
      var line = svg('polyline', {points: pts.join(' '), fill: 'none', stroke: colour(m), 'stroke-width': 1.6,
                                  'data-method': m, 'stroke-dasharray': baselineMethod(m) ? '5 3' : 'none'});
      var title = svg('title', {}); title.textContent = m; line.appendChild(title);
      s.appendChild(line);
    });
    var legend = el('ul');
    Object.keys(series).forEach(function (m) {
      // The table's number (mean over photos of each photo's own area), not one computed from the drawn line.
      var number = series[m].table === null || series[m].table === undefined ? 'n/a' : series[m].table.toFixed(3);
      var item = el('li', {title: 'the table\'s ' + panel[3] + ': mean over ' + series[m].photos + ' photos of each photo\'s ' + panel[4]},
                    el('span', {'class': 'legend-swatch', style: 'background:' + colour(m)}),
                    m + ': ' + number + ' (' + series[m].photos + ' photos)');
      if (baselineMethod(m)) item.appendChild(el('span', {'class': 'badge baseline', text: 'baseline'}));
      legend.appendChild(item);
    });
    return el('div', {'class': 'curve', 'data-panel': panel[0]}, el('h3', {text: panel[1]}), s, legend);
  }
  drawers.curves = function () {
    var box = el('div', {'class': 'curves'});
    PANELS.forEach(function (panel) { if (D.curves.panels[panel[0]]) box.appendChild(plot(panel)); });
    if (!box.childNodes.length) box.appendChild(el('p', {text: 'This study computed no curves (steps 0, no ROAD, no sanity check).'}));
    curvesView.appendChild(el('p', {'class': 'note', text: 'Mean over photos, one line per method (dashed: baselines). ' +
      'Legend: each method\'s number in the results table (deletion_auc, insertion_auc, road_morf, road_lerf, ' +
      'randomisation): the mean over photos of each photo\'s own area or mean; hover an entry for which.'}));
    curvesView.appendChild(box);
  };

  var first = (location.hash || '').slice(1);
  show(views[first] ? first : 'results');
  // Milliseconds from navigation to the table on screen (bench/explorer_load.py reads it).
  document.body.setAttribute('data-ready-ms', performance.now().toFixed(0));
  document.body.setAttribute('data-ready', 'true');
})();
