package reports

import (
	"bytes"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// markdownTable renders a GitHub Markdown table. align gives each column's
// alignment (tw.AlignLeft when shorter than header). Cell text is escaped
// so that pipes and line breaks cannot break the table.
func markdownTable(header []string, rows [][]string, align []tw.Align) (string, error) {
	aligns := make([]tw.Align, len(header))
	for i := range aligns {
		aligns[i] = tw.AlignLeft
		if i < len(align) {
			aligns[i] = align[i]
		}
	}
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
	)
	t.Header(escapeCells(header))
	for _, r := range rows {
		if err := t.Append(escapeCells(r)); err != nil {
			return "", err
		}
	}
	if err := t.Render(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// escapeCells makes cell text safe inside a Markdown table row.
func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		c = strings.ReplaceAll(c, "\r\n", " ")
		c = strings.ReplaceAll(c, "\n", " ")
		c = strings.ReplaceAll(c, "|", `\|`)
		out[i] = c
	}
	return out
}
