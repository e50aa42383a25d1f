// Dashboards: every element with data-chart (JSON: labels, values, hidden,
// unit, name, kind) becomes an Apache ECharts chart. Values hidden for
// small groups are gaps in lines and empty bars marked "<n" in bars.
(function () {
  'use strict';
  if (typeof echarts === 'undefined') { return; }
  var charts = [];
  function suffix(unit) { return unit === 'percent' ? '%' : ''; }
  function draw(el) {
    var d;
    try { d = JSON.parse(el.getAttribute('data-chart')); } catch (e) { return; }
    if (!d || !d.labels || d.labels.length === 0) {
      el.setAttribute('data-rendered', '1'); // nothing to draw
      return;
    }
    var spark = el.classList.contains('spark');
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    var values = d.values.map(function (v) { return v === null ? null : v; });
    var opt;
    if (spark) {
      opt = {
        animation: false,
        grid: { left: 2, right: 2, top: 4, bottom: 2 },
        xAxis: { type: 'category', data: d.labels, show: false, boundaryGap: false },
        yAxis: { type: 'value', show: false, min: 0 },
        series: [{ type: 'line', data: values, symbol: 'none', connectNulls: false, lineStyle: { width: 2, color: '#1f5fae' },
          areaStyle: { color: 'rgba(31,95,174,.12)' } }]
      };
    } else if (d.kind === 'bar') {
      var horizontal = d.labels.length > 8;
      var cat = { type: 'category', data: d.labels, axisLabel: { interval: 0, fontSize: 11 } };
      var val = { type: 'value', axisLabel: { formatter: '{value}' + suffix(d.unit) } };
      if (horizontal) { cat.inverse = true; }
      var hiddenLabel = el.getAttribute('data-hidden-label') || '';
      opt = {
        animation: false,
        tooltip: { trigger: 'axis', valueFormatter: function (v) { return v === null || v === undefined ? hiddenLabel : v + suffix(d.unit); } },
        grid: { left: horizontal ? 140 : 48, right: 24, top: 16, bottom: horizontal ? 24 : 60, containLabel: false },
        xAxis: horizontal ? val : Object.assign(cat, { axisLabel: { interval: 0, rotate: d.labels.length > 4 ? 30 : 0, fontSize: 11 } }),
        yAxis: horizontal ? cat : val,
        series: [{ type: 'bar', name: d.name, data: values, itemStyle: { color: '#1f5fae' },
          label: { show: true, position: horizontal ? 'right' : 'top', formatter: function (p) {
            return p.value === null || p.value === undefined ? (d.hidden[p.dataIndex] ? '<' + d.min : '') : p.value + suffix(d.unit);
          } } }]
      };
    } else {
      opt = {
        animation: false,
        tooltip: { trigger: 'axis', valueFormatter: function (v) { return v === null || v === undefined ? '—' : v + suffix(d.unit); } },
        grid: { left: 56, right: 24, top: 16, bottom: 40 },
        xAxis: { type: 'category', data: d.labels, boundaryGap: false },
        yAxis: { type: 'value', min: 0, axisLabel: { formatter: '{value}' + suffix(d.unit) } },
        series: [{ type: 'line', name: d.name, data: values, connectNulls: false, smooth: false, symbolSize: 6,
          lineStyle: { color: '#1f5fae', width: 2 }, itemStyle: { color: '#1f5fae' }, areaStyle: { color: 'rgba(31,95,174,.08)' } }]
      };
    }
    chart.setOption(opt);
    el.setAttribute('data-rendered', '1');
    charts.push(chart);
  }
  document.querySelectorAll('[data-chart]').forEach(draw);
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
})();
