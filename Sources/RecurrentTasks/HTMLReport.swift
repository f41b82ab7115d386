// One self-contained HTML page: sections of text, tables and inline SVG plots. No scripts, no fonts or
// styles fetched from anywhere, so it opens the same offline.

import Foundation

public final class HTMLReport {
    public let title: String
    private var body = ""
    public private(set) var sectionTitles: [String] = []
    public private(set) var plotCount = 0

    public init(title: String) { self.title = title }

    public func section(_ heading: String, id: String) {
        sectionTitles.append(heading)
        body += "<section id=\"\(SVGPlot.escape(id))\">\n<h2>\(SVGPlot.escape(heading))</h2>\n"
    }

    public func endSection() { body += "</section>\n" }

    public func paragraph(_ text: String) { body += "<p>\(SVGPlot.escape(text))</p>\n" }

    public func preformatted(_ lines: [String]) { body += "<pre>\(SVGPlot.escape(lines.joined(separator: "\n")))</pre>\n" }

    public func table(header: [String], rows: [[String]]) {
        body += "<table>\n<tr>" + header.map { "<th>\(SVGPlot.escape($0))</th>" }.joined() + "</tr>\n"
        for row in rows { body += "<tr>" + row.map { "<td>\(SVGPlot.escape($0))</td>" }.joined() + "</tr>\n" }
        body += "</table>\n"
    }

    /// An SVG document inlined as a figure with a caption.
    public func figure(_ svg: String, caption: String) {
        plotCount += 1
        body += "<figure class=\"plot\">\n\(svg)<figcaption>\(SVGPlot.escape(caption))</figcaption>\n</figure>\n"
    }

    public var html: String {
        let contents = sectionTitles.enumerated().map { "<li>\(SVGPlot.escape($0.element))</li>" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(SVGPlot.escape(title))</title>
            <style>
            body { font-family: Helvetica, Arial, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
            h1 { border-bottom: 2px solid #444; }
            h2 { margin-top: 2.2em; border-bottom: 1px solid #bbb; }
            pre { background: #f5f5f5; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
            table { border-collapse: collapse; margin: 1em 0; }
            th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: left; }
            th { background: #eee; }
            figure { margin: 1.2em 0; }
            figcaption { font-size: 0.9em; color: #555; }
            svg { max-width: 100%; height: auto; }
            </style>
            </head>
            <body>
            <h1>\(SVGPlot.escape(title))</h1>
            <ol>\(contents)</ol>
            \(body)</body>
            </html>

            """
    }
}
