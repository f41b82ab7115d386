// Plots as self-contained SVG (no scripts, no fonts to fetch): line charts with axes, ticks, labels and a
// legend (linear or log y), and heatmaps with a colour bar. Used for training curves, gradient flow, gates
// and attention maps; the tour's report inlines them.

import Foundation

public struct PlotSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var dashed: Bool

    public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
        self.name = name
        self.points = points
        self.dashed = dashed
    }
}

public enum SVGPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// A line chart. Non-finite points, and with `logY` non-positive ones, are left out.
    public static func lineChart(
        title: String, xLabel: String, yLabel: String, series: [PlotSeries], logY: Bool = false,
        width: Int = 640, height: Int = 380
    ) -> String {
        // The legend sits right of the plot; its width follows the longest name so none is cut off.
        let legendWidth = Double((series.map(\.name.count).max() ?? 10) * 7 + 45)
        let width = Swift.max(width, Int(legendWidth) + 420)
        let left = 78.0, right = Swift.max(170.0, legendWidth), top = 36.0, bottom = 52.0
        let plotWidth = Double(width) - left - right, plotHeight = Double(height) - top - bottom
        let transform: (Double) -> Double = logY ? { Foundation.log10($0) } : { $0 }
        let usable = series.map { line in line.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) } }
        let xs = usable.flatMap { $0.map(\.x) }, ys = usable.flatMap { $0.map { transform($0.y) } }
        var (xLow, xHigh) = (xs.min() ?? 0, xs.max() ?? 1)
        var (yLow, yHigh) = (ys.min() ?? 0, ys.max() ?? 1)
        if xHigh - xLow < 1e-12 { xLow -= 0.5; xHigh += 0.5 }
        if yHigh - yLow < 1e-12 { yLow -= 0.5; yHigh += 0.5 }
        let xTicks = niceTicks(xLow, xHigh), yTicks = logY ? Array(Int(Foundation.floor(yLow))...Int(Foundation.ceil(yHigh))).map(Double.init) : niceTicks(yLow, yHigh)
        xLow = Swift.min(xLow, xTicks.first ?? xLow); xHigh = Swift.max(xHigh, xTicks.last ?? xHigh)
        yLow = Swift.min(yLow, yTicks.first ?? yLow); yHigh = Swift.max(yHigh, yTicks.last ?? yHigh)
        func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }

        var svg = header(width: width, height: height, title: title)
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        let yTickStride = Swift.max(1, yTicks.count / 8)
        for (index, tick) in yTicks.enumerated() where index % yTickStride == 0 {
            let y = py(tick)
            svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            let label = logY ? "1e\(Int(tick))" : tickLabel(tick)
            svg += "<text x=\"\(f(left - 7))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(label))</text>\n"
        }
        for tick in xTicks {
            let x = px(tick)
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(x))\" y2=\"\(f(top + plotHeight + 4))\" stroke=\"#444\"/>\n"
            svg += "<text x=\"\(f(x))\" y=\"\(f(top + plotHeight + 17))\" text-anchor=\"middle\" font-size=\"11\">\(escape(tickLabel(tick)))</text>\n"
        }
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(Double(height) - 10))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel + (logY ? " (log scale)" : "")))</text>\n"
        for (index, line) in usable.enumerated() where !line.isEmpty {
            let colour = palette[index % palette.count]
            let path = line.map { "\(f(px($0.x))),\(f(py(transform($0.y))))" }.joined(separator: " ")
            let dash = series[index].dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
            if line.count <= 24 {
                for point in line { svg += "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(transform(point.y))))\" r=\"2.5\" fill=\"\(colour)\"/>\n" }
            }
        }
        // The legend sits right of the plot so it never hides a line.
        for (index, line) in series.enumerated() {
            let y = top + 10 + Double(index) * 18, x = left + plotWidth + 12
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 22))\" y2=\"\(f(y))\" stroke=\"\(palette[index % palette.count])\" stroke-width=\"2\"\(dash)/>\n"
            svg += "<text x=\"\(f(x + 27))\" y=\"\(f(y + 4))\" font-size=\"11\">\(escape(line.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// A heatmap of `values[row][column]` in [low, high] (from the data when not given), rows top to bottom,
    /// with a colour bar. Labels are thinned to stay readable.
    public static func heatmap(
        title: String, values: [[Double]], rowLabels: [String], columnLabels: [String], xLabel: String, yLabel: String,
        low: Double? = nil, high: Double? = nil, cellSize: Double? = nil
    ) -> String {
        let rows = values.count, columns = values.first?.count ?? 0
        let cell = cellSize ?? Swift.max(4, Swift.min(28, 560 / Double(Swift.max(1, Swift.max(columns, rows / 2)))))
        let labelWidth = Double((rowLabels.map(\.count).max() ?? 2) * 7 + 40)
        let left = Swift.max(70, labelWidth), top = 40.0
        let plotWidth = cell * Double(columns), plotHeight = cell * Double(rows)
        let width = Int(left + plotWidth + 120), height = Int(top + plotHeight + 78)
        let flat = values.flatMap { $0 }.filter(\.isFinite)
        let minimum = low ?? (flat.min() ?? 0), maximum = Swift.max((high ?? (flat.max() ?? 1)), minimum + 1e-12)
        var svg = header(width: width, height: height, title: title)
        for row in 0..<rows {
            for column in 0..<Swift.min(columns, values[row].count) {
                let value = values[row][column]
                let colour = value.isFinite ? colourScale((value - minimum) / (maximum - minimum)) : "#ccc"
                svg += "<rect x=\"\(f(left + Double(column) * cell))\" y=\"\(f(top + Double(row) * cell))\" width=\"\(f(cell + 0.3))\" height=\"\(f(cell + 0.3))\" fill=\"\(colour)\"><title>\(escape(rowLabels[safe: row] ?? "")), \(escape(columnLabels[safe: column] ?? "")): \(tickLabel(value))</title></rect>\n"
            }
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        let rowStride = Swift.max(1, Int((12 / cell).rounded(.up)))
        for row in Swift.stride(from: 0, to: rows, by: rowStride) {
            svg += "<text x=\"\(f(left - 5))\" y=\"\(f(top + (Double(row) + 0.5) * cell + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(rowLabels[safe: row] ?? ""))</text>\n"
        }
        let columnStride = Swift.max(1, Int((14 / cell).rounded(.up)))
        for column in Swift.stride(from: 0, to: columns, by: columnStride) {
            let x = left + (Double(column) + 0.5) * cell, y = top + plotHeight + 8
            svg += "<text transform=\"translate(\(f(x)) \(f(y))) rotate(45)\" font-size=\"11\">\(escape(columnLabels[safe: column] ?? ""))</text>\n"
        }
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(Double(height) - 6))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel))</text>\n"
        // Colour bar: the legend of a heatmap.
        let barX = left + plotWidth + 24, barHeight = Swift.max(60, Swift.min(plotHeight, 240))
        for step in 0..<40 {
            let fraction = 1 - Double(step) / 39
            svg += "<rect x=\"\(f(barX))\" y=\"\(f(top + Double(step) * barHeight / 40))\" width=\"14\" height=\"\(f(barHeight / 40 + 0.5))\" fill=\"\(colourScale(fraction))\"/>\n"
        }
        svg += "<text x=\"\(f(barX + 19))\" y=\"\(f(top + 9))\" font-size=\"11\">\(tickLabel(maximum))</text>\n"
        svg += "<text x=\"\(f(barX + 19))\" y=\"\(f(top + barHeight))\" font-size=\"11\">\(tickLabel(minimum))</text>\n"
        return svg + "</svg>\n"
    }

    static func header(width: Int, height: Int, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"Helvetica, Arial, sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"\(width / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
    }

    /// Dark blue → teal → yellow, readable in grey too (lightness rises monotonically).
    static func colourScale(_ fraction: Double) -> String {
        let t = Swift.min(1, Swift.max(0, fraction.isFinite ? fraction : 0))
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let scaled = t * Double(stops.count - 1), index = Swift.min(stops.count - 2, Int(scaled)), local = scaled - Double(index)
        let (a, b) = (stops[index], stops[index + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * local).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// About five round-numbered ticks covering [low, high].
    static func niceTicks(_ low: Double, _ high: Double) -> [Double] {
        let span = high - low, rough = span / 5
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? rough
        var ticks: [Double] = []
        var tick = Foundation.floor(low / step) * step
        while tick <= high + step * 0.5 && ticks.count < 40 { ticks.append(tick); tick += step }
        return ticks
    }

    static func tickLabel(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if value == 0 { return "0" }
        if Swift.abs(value) >= 1e5 || Swift.abs(value) < 1e-3 { return String(format: "%.1e", value) }
        if value == value.rounded() { return String(Int(value)) }
        return String(format: "%.3g", value)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Text for an SVG attribute or element. Control characters other than tab and line breaks are not allowed
    /// anywhere in XML 1.0 (a word typed with one made the file unreadable): each becomes U+FFFD.
    public static func escape(_ text: String) -> String {
        let allowed = String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r" ? "\u{FFFD}" : scalar
        }))
        return allowed.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
