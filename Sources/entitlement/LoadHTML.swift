import Foundation

/// A self-contained HTML page (no network: data, script and styles inline) drawing one or more
/// load reports: latency by percentile on a log scale up to p99.99, and calls/s over time.
enum LoadHTML {
    static func render(_ reports: [LoadReport], title: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        // Inside <script>, "</" could end the element: escape it.
        let data = String(decoding: try encoder.encode(reports), as: UTF8.self).replacingOccurrences(of: "</", with: "<\\/")
        return page.replacingOccurrences(of: "$TITLE$", with: escape(title)).replacingOccurrences(of: "$DATA$", with: data)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    private static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>$TITLE$</title>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1b1f24; }
          h1 { font-size: 20px; margin: 0 0 4px; }
          h2 { font-size: 16px; margin: 24px 0 8px; }
          .note { color: #57606a; margin: 0 0 16px; }
          table { border-collapse: collapse; margin: 8px 0 16px; }
          th, td { padding: 4px 10px; border-bottom: 1px solid #d0d7de; text-align: right; white-space: nowrap; }
          th:first-child, td:first-child { text-align: left; }
          svg { background: #fff; border: 1px solid #d0d7de; }
          .axis { stroke: #57606a; stroke-width: 1; }
          .grid { stroke: #eaeef2; stroke-width: 1; }
          .label { fill: #57606a; font-size: 12px; }
          .legend { font-size: 13px; }
          .swatch { display: inline-block; width: 12px; height: 12px; margin: 0 6px 0 14px; vertical-align: -1px; }
        </style>
        </head>
        <body>
        <h1>$TITLE$</h1>
        <p class="note">entitlement load. Latency counts from each call's intended send time in an open loop
        (so queueing shows), from the actual send otherwise.</p>
        <div id="legend" class="legend"></div>
        <table id="summary"></table>
        <h2>Latency by percentile</h2>
        <svg id="percentiles" width="900" height="380"></svg>
        <h2>Calls per second</h2>
        <svg id="timeline" width="900" height="300"></svg>
        <script>
        const reports = $DATA$;
        const colors = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"];
        const NS = "http://www.w3.org/2000/svg";
        function el(name, attrs, text) {
          const e = document.createElementNS(NS, name);
          for (const k in attrs) e.setAttribute(k, attrs[k]);
          if (text !== undefined) e.textContent = text;
          return e;
        }
        // An interrupted run measured only until Ctrl-C or SIGTERM: say so wherever it is named.
        function name(r) { return r.interrupted ? `${r.label} (interrupted)` : r.label; }
        function fmt(v, d) { return v === undefined || v === null ? "-" : Number(v).toFixed(d); }

        const legend = document.getElementById("legend");
        reports.forEach((r, i) => {
          legend.insertAdjacentHTML("beforeend",
            `<span class="swatch" style="background:${colors[i % colors.length]}"></span>`);
          legend.appendChild(document.createTextNode(name(r)));
        });

        const summary = document.getElementById("summary");
        const head = summary.createTHead().insertRow();
        ["run", "loop", "calls", "errors", "calls/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"]
          .forEach(text => { const th = document.createElement("th"); th.textContent = text; head.appendChild(th); });
        const body = summary.createTBody();
        reports.forEach(r => {
          const l = r.latency_ms || {};
          const loop = r.settings.loop + (r.settings.rate ? ` @ ${fmt(r.settings.rate, 0)}/s` : "");
          const row = body.insertRow();
          [name(r), loop, r.total, r.total - r.ok, fmt(r.rps, 1), fmt(l.p50, 3), fmt(l.p90, 3), fmt(l.p99, 3),
            fmt(l.p999, 3), fmt(l.max, 3)].forEach(text => { row.insertCell().textContent = text; });
        });

        function chart(svg, series, xOf, yMax, xTicks, yLabel, xLabel) {
          const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
          const m = { l: 70, r: 20, t: 16, b: 44 };
          const xs = v => m.l + v * (W - m.l - m.r), ys = v => H - m.b - (v / yMax) * (H - m.t - m.b);
          for (let i = 0; i <= 5; i++) {
            const v = yMax * i / 5, y = ys(v);
            svg.appendChild(el("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "grid" }));
            svg.appendChild(el("text", { x: m.l - 8, y: y + 4, "text-anchor": "end", class: "label" }, fmt(v, v < 10 ? 2 : 0)));
          }
          xTicks.forEach(([v, text]) => {
            const x = xs(v);
            svg.appendChild(el("line", { x1: x, x2: x, y1: m.t, y2: H - m.b, class: "grid" }));
            svg.appendChild(el("text", { x: x, y: H - m.b + 18, "text-anchor": "middle", class: "label" }, text));
          });
          svg.appendChild(el("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }));
          svg.appendChild(el("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
          svg.appendChild(el("text", { x: 14, y: m.t + (H - m.t - m.b) / 2, class: "label",
            transform: `rotate(-90 14 ${m.t + (H - m.t - m.b) / 2})`, "text-anchor": "middle" }, yLabel));
          svg.appendChild(el("text", { x: m.l + (W - m.l - m.r) / 2, y: H - 6, class: "label", "text-anchor": "middle" }, xLabel));
          series.forEach((points, i) => {
            if (points.length === 0) return;
            const d = points.map(([x, y], j) => `${j ? "L" : "M"}${xs(xOf(x)).toFixed(1)},${ys(Math.min(y, yMax)).toFixed(1)}`).join("");
            svg.appendChild(el("path", { d: d, fill: "none", stroke: colors[i % colors.length], "stroke-width": 2 }));
          });
        }

        // Latency by percentile: x = log10(1 / (1 - p)), so 90, 99, 99.9, 99.99 are evenly spaced.
        const nines = p => Math.log10(1 / (1 - Math.min(p, 99.99) / 100)) / 4;
        const curves = reports.map(r => r.percentiles.filter(([p]) => p <= 99.99));
        const latMax = Math.max(1e-3, ...curves.flat().map(([, v]) => v)) * 1.1;
        chart(document.getElementById("percentiles"), curves, nines, latMax,
          [[0, "0%"], [0.25, "90%"], [0.5, "99%"], [0.75, "99.9%"], [1, "99.99%"]], "latency (ms)", "percentile");

        // Calls per second over the run.
        // Whole seconds only: the last, partial one would look like a drop.
        const lines = reports.map(r => r.timeline.filter(s => s.t + 1 <= r.duration_s + 0.01).map(s => [s.t, s.ok]));
        const last = Math.max(1, ...lines.map(l => l.length - 1));
        const rpsMax = Math.max(1, ...lines.flat().map(([, v]) => v)) * 1.1;
        const ticks = [];
        for (let i = 0; i <= 5; i++) ticks.push([i / 5, `${Math.round(last * i / 5)} s`]);
        chart(document.getElementById("timeline"), lines, t => t / last, rpsMax, ticks, "successful calls/s", "time");
        </script>
        </body>
        </html>
        """#
}
