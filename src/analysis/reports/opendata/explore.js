/* The table tool: a table and a bar chart of one indicator, built in the browser from the open
   data files of the release (data.js is generated from the CSV files beside it). Nothing is
   calculated: every cell shown is a cell of a file, and a symbol stays a symbol. It works from
   the file system with the network off (classic scripts, no request of any kind). */
(function () {
  "use strict";
  var DATA = window.OPEN_DATA;
  var T = JSON.parse(document.getElementById("explore-strings").textContent);
  var LANG = document.documentElement.lang.slice(0, 2) === "fr" ? "fr" : "en";
  var SYMBOLS = ["c", "z", "x", "u"];
  function $(id) { return document.getElementById(id); }
  var els = {
    topic: $("ex-topic"), indicator: $("ex-indicator"), level: $("ex-level"),
    place: $("ex-place"), years: $("ex-years"), breakdown: $("ex-breakdown"),
    others: $("ex-others"), status: $("ex-status"), table: $("ex-table"),
    chart: $("ex-chart"), chartNote: $("ex-chart-note"), download: $("ex-download"),
    source: $("ex-source")
  };
  var state = { fixed: {}, breakdown: null, levelName: null, placeCode: null };

  // ------------------------------------------------------------ helpers
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }
  function label(obj) { return obj[LANG] || obj.en; }
  function option(value, text, selected) {
    var o = document.createElement("option");
    o.value = String(value);
    o.textContent = text;
    o.selected = !!selected;
    return o;
  }
  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }
  function isSymbol(cell) { return SYMBOLS.indexOf(cell) >= 0; }
  function periodLabel(p) {
    if (p.length !== 6) { return p; }
    var start = parseInt(p.slice(0, 4), 10);
    return LANG === "fr" ? start + "-" + (start + 1) : start + "-" + p.slice(4);
  }
  var formatters = {};
  function formatCell(cell, ind) {
    if (isSymbol(cell)) { return cell; }
    if (!formatters[ind.dp]) {
      formatters[ind.dp] = new Intl.NumberFormat(LANG === "fr" ? "fr-CA" : "en-CA", {
        minimumFractionDigits: ind.dp, maximumFractionDigits: ind.dp
      });
    }
    var text = formatters[ind.dp].format(Number(cell));
    if (ind.unit === "%") { text += LANG === "fr" ? "\u00a0%" : "%"; }
    if (ind.unit === "pp") { text += LANG === "fr" ? "\u00a0pp" : " pp"; }
    return text;
  }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // ------------------------------------------------------------ the choices
  function dataset() {
    var name = els.indicator.value.split("|")[0];
    return DATA.datasets.filter(function (d) { return d.name === name; })[0];
  }
  function indicator(ds) {
    var name = els.indicator.value.split("|")[1];
    for (var i = 0; i < ds.indicators.length; i++) {
      if (ds.indicators[i].name === name) { return i; }
    }
    return 0;
  }
  function placeIndex() { return Number(els.place.value); }
  function rowsAt(ds, place) { return ds.rows.filter(function (r) { return r[1] === place; }); }
  function valuesIn(rows, f) {
    var seen = {};
    rows.forEach(function (r) { seen[r[2 + f]] = true; });
    return Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
  }

  function fillTopics() {
    clear(els.topic);
    DATA.topics.forEach(function (t, i) {
      els.topic.appendChild(option(t.name, label(t.title), i === 0));
    });
  }
  function fillIndicators() {
    clear(els.indicator);
    var first = -1;
    var n = 0;
    DATA.datasets.forEach(function (d) {
      if (d.topic !== els.topic.value) { return; }
      var group = document.createElement("optgroup");
      group.label = label(d.title);
      d.indicators.forEach(function (ind, i) {
        if (first < 0 && i === d.main) { first = n; }
        group.appendChild(option(d.name + "|" + ind.name, label(ind.label), false));
        n++;
      });
      els.indicator.appendChild(group);
    });
    els.indicator.selectedIndex = Math.max(first, 0);
  }
  function fillLevels() {
    var ds = dataset();
    clear(els.level);
    var chosen = 0;
    ds.levels.forEach(function (lv, i) {
      if (DATA.levels[lv].name === state.levelName) { chosen = i; }
      els.level.appendChild(option(lv, label(DATA.levels[lv].label), false));
    });
    els.level.selectedIndex = chosen;
  }
  function fillPlaces() {
    var ds = dataset();
    var lv = Number(els.level.value);
    clear(els.place);
    var chosen = -1;
    var n = 0;
    ds.places.forEach(function (p, i) {
      if (p[0] !== lv) { return; }
      if (p[1] === state.placeCode) { chosen = n; }
      els.place.appendChild(option(i, p[2], false));
      n++;
    });
    els.place.selectedIndex = Math.max(chosen, 0);
  }
  function fillYears() {
    var ds = dataset();
    var keep = {};
    var boxes = els.years.querySelectorAll("input");
    for (var i = 0; i < boxes.length; i++) { keep[boxes[i].value] = boxes[i].checked; }
    clear(els.years);
    ds.periods.forEach(function (p) {
      var wrap = document.createElement("div");
      wrap.className = "ex-check";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.id = "ex-year-" + p;
      box.value = p;
      box.checked = p in keep ? keep[p] : true;
      box.addEventListener("change", render);
      var lab = document.createElement("label");
      lab.htmlFor = box.id;
      lab.textContent = periodLabel(p);
      wrap.appendChild(box);
      wrap.appendChild(lab);
      els.years.appendChild(wrap);
    });
  }
  function fillBreakdown() {
    var ds = dataset();
    var rows = rowsAt(ds, placeIndex());
    var usable = ds.filters.map(function (f, i) { return valuesIn(rows, i).length > 1 ? i : -1; })
      .filter(function (i) { return i >= 0; });
    var names = usable.map(function (i) { return ds.filters[i].name; });
    var want = state.breakdown;
    if (want === null || (want !== "" && names.indexOf(want) < 0)) {
      want = "";
      for (var k = 0; k < ds.breakdowns.length; k++) {
        if (names.indexOf(ds.breakdowns[k]) >= 0) { want = ds.breakdowns[k]; break; }
      }
    }
    clear(els.breakdown);
    els.breakdown.appendChild(option("", T.no_breakdown, want === ""));
    usable.forEach(function (i) {
      var f = ds.filters[i];
      els.breakdown.appendChild(option(f.name, label(f.label), f.name === want));
    });
  }
  // one select per other filter: its choices are the values the rows still hold once the
  // filters before it are chosen, so every choice leads to cells of the file
  function fillOthers() {
    var ds = dataset();
    var rows = rowsAt(ds, placeIndex());
    clear(els.others);
    ds.filters.forEach(function (f, i) {
      if (f.name === els.breakdown.value) { return; }
      var vals = valuesIn(rows, i);
      var keep = state.fixed[f.name];
      var chosen = vals.indexOf(keep) >= 0 ? keep
        : vals.indexOf(f["default"]) >= 0 ? f["default"] : vals[0];
      rows = rows.filter(function (r) { return r[2 + i] === chosen; });
      if (vals.length < 2) { return; }
      var wrap = document.createElement("div");
      wrap.className = "ex-field";
      var lab = document.createElement("label");
      lab.htmlFor = "ex-filter-" + f.name;
      lab.textContent = label(f.label);
      var sel = document.createElement("select");
      sel.id = "ex-filter-" + f.name;
      sel.setAttribute("data-filter", String(i));
      vals.forEach(function (v) { sel.appendChild(option(v, f.labels[v], v === chosen)); });
      sel.addEventListener("change", function () {
        state.fixed[f.name] = Number(sel.value);
        var focus = sel.id;
        fillOthers();
        $(focus).focus();
        render();
      });
      wrap.appendChild(lab);
      wrap.appendChild(sel);
      els.others.appendChild(wrap);
    });
  }

  // ------------------------------------------------------------ the selection
  function selection() {
    var ds = dataset();
    var ind = indicator(ds);
    var place = placeIndex();
    var years = [];
    ds.periods.forEach(function (p, i) {
      var box = $("ex-year-" + p);
      if (box && box.checked) { years.push(i); }
    });
    var bf = -1;
    ds.filters.forEach(function (f, i) { if (f.name === els.breakdown.value) { bf = i; } });
    var rows = rowsAt(ds, place);
    // the filters that are not the breakdown: the chosen value, or the only one there is
    ds.filters.forEach(function (f, i) {
      if (i === bf) { return; }
      var sel = $("ex-filter-" + f.name);
      var want = sel ? Number(sel.value) : valuesIn(rows, i)[0];
      rows = rows.filter(function (r) { return r[2 + i] === want; });
    });
    rows = rows.filter(function (r) { return years.indexOf(r[0]) >= 0; });
    return {
      ds: ds, ind: ds.indicators[ind], col: 2 + ds.filters.length + ind,
      place: ds.places[place], years: years, bf: bf, rows: rows
    };
  }

  function renderTable(sel) {
    var ds = sel.ds;
    clear(els.table);
    var caption = document.createElement("caption");
    caption.textContent = fill(T.caption, { indicator: label(sel.ind.label), place: sel.place[2] });
    els.table.appendChild(caption);
    var keys = [];
    var byKey = {};
    sel.rows.forEach(function (r) {
      var k = sel.bf >= 0 ? r[2 + sel.bf] : -1;
      if (!(k in byKey)) { byKey[k] = {}; keys.push(k); }
      byKey[k][r[0]] = r[sel.col];
    });
    keys.sort(function (a, b) { return a - b; });
    var years = sel.years.filter(function (y) {
      return keys.some(function (k) { return byKey[k][y] !== undefined; });
    });
    var thead = document.createElement("thead");
    var hr = document.createElement("tr");
    var corner = document.createElement("th");
    corner.scope = "col";
    corner.textContent = sel.bf >= 0 ? label(ds.filters[sel.bf].label) : T.row_header;
    hr.appendChild(corner);
    years.forEach(function (y) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "num";
      th.textContent = periodLabel(ds.periods[y]);
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    els.table.appendChild(thead);
    var tbody = document.createElement("tbody");
    var shown = 0;
    keys.forEach(function (k) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = k >= 0 ? ds.filters[sel.bf].labels[k] : sel.place[2];
      tr.appendChild(th);
      years.forEach(function (y) {
        var td = document.createElement("td");
        td.className = "num";
        var cell = byKey[k][y];
        if (cell !== undefined) {
          shown++;
          td.setAttribute("data-cell", cell);
          if (isSymbol(cell)) {
            td.className = "num sym";
            var ab = document.createElement("abbr");
            ab.title = T.symbols[cell];
            ab.textContent = cell;
            td.appendChild(ab);
          } else {
            td.textContent = formatCell(cell, sel.ind);
          }
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    els.table.appendChild(tbody);
    return { keys: keys, byKey: byKey, years: years, cells: shown };
  }

  function renderChart(sel, t) {
    els.chart.innerHTML = "";
    els.chartNote.textContent = "";
    els.chart.hidden = true;
    if (!t.years.length || !t.keys.length) { return; }
    var year = t.years[t.years.length - 1];
    var byYear = sel.bf < 0 && t.years.length > 1;
    var items = byYear
      ? t.years.map(function (y) { return { label: periodLabel(sel.ds.periods[y]), cell: t.byKey[-1][y] }; })
      : t.keys.map(function (k) {
        return { label: k >= 0 ? sel.ds.filters[sel.bf].labels[k] : sel.place[2], cell: t.byKey[k][year] };
      });
    var nums = items.filter(function (it) { return it.cell !== undefined && !isSymbol(it.cell); })
      .map(function (it) { return Number(it.cell); });
    if (!nums.length) { els.chartNote.textContent = T.chart_none; return; }
    var max = Math.max.apply(null, nums.concat([0]));
    var min = Math.min.apply(null, nums.concat([0]));
    var span = max - min || 1;
    // the chart is drawn at the width it is shown (1 unit = 1 CSS pixel, so text keeps its size);
    // narrow screens put each label above its bar
    var width = Math.round(Math.max(280, Math.min(640, els.chart.parentNode.clientWidth || 640)));
    var narrow = width < 520;
    var labelW = narrow ? 0 : Math.round(width * 0.38);
    var valueW = 80;
    var barW = width - labelW - valueW - 12;
    var rowH = narrow ? 44 : 28;
    var pad = 8;
    var height = items.length * rowH + pad * 2;
    var zero = labelW + 6 + (0 - min) / span * barW;
    var maxChars = Math.floor((narrow ? width : labelW) / 7.5);
    var title = byYear ? label(sel.ind.label)
      : fill(T.chart_year, { year: periodLabel(sel.ds.periods[year]) });
    var desc = fill(T.chart_alt, {
      indicator: label(sel.ind.label), place: sel.place[2],
      year: byYear ? t.years.map(function (y) { return periodLabel(sel.ds.periods[y]); }).join(", ")
        : periodLabel(sel.ds.periods[year])
    });
    var out = [
      '<svg viewBox="0 0 ' + width + " " + height + '" width="' + width + '" height="' + height +
        '" role="img" focusable="false" aria-labelledby="ex-chart-title ex-chart-desc">',
      '<title id="ex-chart-title">' + esc(title) + "</title>",
      '<desc id="ex-chart-desc">' + esc(desc) + "</desc>",
      '<line x1="' + zero.toFixed(1) + '" y1="' + pad + '" x2="' + zero.toFixed(1) + '" y2="' +
        (height - pad) + '" stroke="#1a1a1a" stroke-width="1"></line>'
    ];
    items.forEach(function (it, i) {
      var y = pad + i * rowH;
      var barY = narrow ? y + 20 : y + 5;
      var textY = narrow ? y + 34 : y + 18;
      var name = it.label.length > maxChars ? it.label.slice(0, maxChars - 1) + "\u2026" : it.label;
      out.push(narrow
        ? '<text x="0" y="' + (y + 14) + '" font-size="13" fill="#1a1a1a">' + esc(name) + "</text>"
        : '<text x="' + (labelW - 2) + '" y="' + textY + '" text-anchor="end" font-size="13"' +
          ' fill="#1a1a1a">' + esc(name) + "</text>");
      if (it.cell === undefined) { return; }
      if (isSymbol(it.cell)) {
        out.push('<text x="' + (zero + 6).toFixed(1) + '" y="' + textY + '" font-size="13"' +
          ' font-weight="bold" fill="#1a1a1a">' + esc(it.cell) + "</text>");
        return;
      }
      var v = Number(it.cell);
      var x0 = Math.min(zero, labelW + 6 + (v - min) / span * barW);
      var w = Math.max(1, Math.abs(v) / span * barW);
      out.push('<rect x="' + x0.toFixed(1) + '" y="' + barY + '" width="' + w.toFixed(1) +
        '" height="18" fill="#1f5f8b"></rect>');
      out.push('<text x="' + (labelW + 6 + barW + 6) + '" y="' + textY + '" font-size="13"' +
        ' fill="#1a1a1a">' + esc(formatCell(it.cell, sel.ind)) + "</text>");
    });
    out.push("</svg>");
    els.chart.innerHTML = out.join("");
    els.chart.hidden = false;
  }

  function csvField(s) {
    s = String(s);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  // the selection as the file writes it: its rows, with the one indicator chosen
  function updateDownload(sel) {
    var ds = sel.ds;
    var head = ["time_period", "time_identifier"].concat(
      ds.place_columns, ds.filters.map(function (f) { return f.name; }), [sel.ind.name]);
    var lines = [head.map(csvField).join(",")];
    sel.rows.forEach(function (r) {
      var out = [ds.periods[r[0]], ds.time_identifier].concat(ds.places[r[1]][3]);
      ds.filters.forEach(function (f, i) { out.push(f.values[r[2 + i]]); });
      out.push(r[sel.col]);
      lines.push(out.map(csvField).join(","));
    });
    els.download.href = "data:text/csv;charset=utf-8," + encodeURIComponent(lines.join("\n") + "\n");
    els.download.setAttribute("download", ds.name + "-" + sel.ind.name + ".csv");
  }

  function render() {
    var sel = selection();
    els.source.textContent = sel.ds.file;
    els.source.href = "../data/open/" + sel.ds.file;
    updateDownload(sel);
    if (!sel.years.length) {
      clear(els.table);
      els.chart.innerHTML = "";
      els.chart.hidden = true;
      els.chartNote.textContent = "";
      els.status.textContent = T.no_years;
      return;
    }
    var t = renderTable(sel);
    renderChart(sel, t);
    els.status.textContent = t.cells ? fill(T.status, { n: t.cells, file: sel.ds.file }) : T.empty;
  }

  // ------------------------------------------------------------ wiring
  DATA.datasets.forEach(function (d) {
    d.filters.forEach(function (f) { f.labels = LANG === "fr" ? f.fr : f.values; });
  });
  function fromIndicator() {
    fillLevels();
    fillPlaces();
    fillYears();
    fillBreakdown();
    fillOthers();
    render();
  }
  els.topic.addEventListener("change", function () {
    state.fixed = {};
    state.breakdown = null;
    fillIndicators();
    fromIndicator();
  });
  els.indicator.addEventListener("change", fromIndicator);
  els.level.addEventListener("change", function () {
    state.levelName = DATA.levels[Number(els.level.value)].name;
    state.placeCode = null;
    fillPlaces();
    fillBreakdown();
    fillOthers();
    render();
  });
  els.place.addEventListener("change", function () {
    state.placeCode = dataset().places[placeIndex()][1];
    fillBreakdown();
    fillOthers();
    render();
  });
  els.breakdown.addEventListener("change", function () {
    state.breakdown = els.breakdown.value;
    fillOthers();
    render();
  });
  $("ex-form").addEventListener("submit", function (e) { e.preventDefault(); });
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(render, 150);
  });
  $("ex-app").hidden = false;  // shown first, so the chart is drawn at the width it has
  fillTopics();
  fillIndicators();
  fromIndicator();
})();
