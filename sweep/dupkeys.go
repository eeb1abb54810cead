package sweep

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// duplicateKey finds the first mapping key given twice anywhere under n, in
// document order, and reports it at the second occurrence with the line of
// the first. YAML parsers keep the last value of a repeated key (or, for a
// grid, both entries), so a sweep that said `seeds` twice, `{rank: 4, rank:
// 8}` or `lora:` twice would otherwise run something other than what its
// author read. (Package tasks rejects repeated keys in task YAML with its
// own checks.)
func duplicateKey(file string, n *yaml.Node, field string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := duplicateKey(file, c, field); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateKey(file, c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := k.Value
			if field != "" {
				name = field + "." + k.Value
			}
			if k.Kind == yaml.ScalarNode {
				if line, dup := first[k.Value]; dup {
					return specError(file, k.Line, name, "duplicate key (first at line %d)", line)
				}
				first[k.Value] = k.Line
			}
			if err := duplicateKey(file, v, name); err != nil {
				return err
			}
		}
	}
	return nil // scalars, and aliases (checked where their anchor is)
}
