package methods

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/peftbench/peftbench/internal/numfmt"
)

// Kind is the type of a hyper-parameter.
type Kind string

// The kinds of hyper-parameters.
const (
	Int    Kind = "int"
	Float  Kind = "float"
	Bool   Kind = "bool"
	String Kind = "string" // one of Choices when Choices is set
	List   Kind = "list"   // strings, each one of Choices when set
)

// Spec declares one hyper-parameter.
type Spec struct {
	Name    string
	Kind    Kind
	Default any
	Min     float64 // numeric kinds: inclusive bounds
	Max     float64
	Choices []string
	Doc     string
	// Late marks a hyper-parameter added after trials were recorded: a
	// trial's spec leaves it out while it holds its default (TrialParams),
	// so the ids of those trials, hashes of their specs, stay valid.
	Late bool
}

// Range describes the valid values for listings.
func (s Spec) Range() string {
	switch s.Kind {
	case Int, Float:
		hi := fmt.Sprint(s.Max)
		if math.IsInf(s.Max, 1) {
			hi = "∞"
		}
		return fmt.Sprintf("[%v, %s]", s.Min, hi)
	case Bool:
		return "true|false"
	default:
		if len(s.Choices) > 0 {
			return strings.Join(s.Choices, "|")
		}
		return "any"
	}
}

// Values are resolved hyper-parameters: every declared name has a value of
// its kind.
type Values map[string]any

// Int returns an int value.
func (v Values) Int(name string) int { return v[name].(int) }

// Float returns a float value.
func (v Values) Float(name string) float64 { return v[name].(float64) }

// Bool returns a bool value.
func (v Values) Bool(name string) bool { return v[name].(bool) }

// String returns a string value.
func (v Values) String(name string) string { return v[name].(string) }

// List returns a list value.
func (v Values) List(name string) []string { return v[name].([]string) }

// Resolve checks raw values (as YAML or JSON decode them) against the
// method's declaration and fills in defaults. Errors name the field.
// Settings may be given under PEFT's names (Normalize).
func Resolve(m Method, raw map[string]any) (Values, error) {
	raw, err := Normalize(m.Name(), raw)
	if err != nil {
		return nil, err
	}
	specs := map[string]Spec{}
	for _, s := range m.Params() {
		specs[s.Name] = s
	}
	var unknown []string
	for k := range raw {
		if _, ok := specs[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("methods: %s: unknown hyper-parameter %q (have %s)", m.Name(), unknown[0], strings.Join(specNames(m), ", "))
	}
	v := Values{}
	for _, s := range m.Params() {
		x, ok := raw[s.Name]
		if !ok {
			x = s.Default
		}
		val, err := s.coerce(x)
		if err != nil {
			return nil, fmt.Errorf("methods: %s: field %q: %w", m.Name(), s.Name, err)
		}
		v[s.Name] = val
	}
	return v, nil
}

// TrialParams is what a trial's spec records of resolved values: every
// hyper-parameter, less the Late ones at their defaults (Resolve fills
// them back in).
func TrialParams(m Method, v Values) map[string]any {
	out := map[string]any{}
	for _, s := range m.Params() {
		val, ok := v[s.Name]
		if !ok {
			continue
		}
		if s.Late {
			if def, err := s.coerce(s.Default); err == nil && reflect.DeepEqual(def, val) {
				continue
			}
		}
		out[s.Name] = val
	}
	return out
}

func specNames(m Method) []string {
	var out []string
	for _, s := range m.Params() {
		out = append(out, s.Name)
	}
	return out
}

func (s Spec) coerce(x any) (any, error) {
	switch s.Kind {
	case Int:
		f, ok := numfmt.Number(x)
		if !ok || f != math.Trunc(f) {
			return nil, fmt.Errorf("%v is not an integer", x)
		}
		if f < s.Min || f > s.Max {
			return nil, fmt.Errorf("%v is outside %s", x, s.Range())
		}
		return int(f), nil
	case Float:
		f, ok := numfmt.Number(x)
		if !ok || math.IsNaN(f) {
			return nil, fmt.Errorf("%v is not a number", x)
		}
		if f < s.Min || f > s.Max {
			return nil, fmt.Errorf("%v is outside %s", x, s.Range())
		}
		return f, nil
	case Bool:
		b, ok := x.(bool)
		if !ok {
			return nil, fmt.Errorf("%v is not true or false", x)
		}
		return b, nil
	case String:
		str, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a string", x)
		}
		return str, s.checkChoice(str)
	case List:
		var out []string
		switch l := x.(type) {
		case string: // "q,v"
			for _, p := range strings.Split(l, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		case []string:
			out = append(out, l...)
		case []any:
			for _, e := range l {
				str, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("list element %v is not a string", e)
				}
				out = append(out, str)
			}
		default:
			return nil, fmt.Errorf("%v is not a list", x)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("the list is empty")
		}
		for _, e := range out {
			if err := s.checkChoice(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown kind %q", s.Kind)
}

func (s Spec) checkChoice(x string) error {
	if len(s.Choices) == 0 {
		return nil
	}
	for _, c := range s.Choices {
		if c == x {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", x, strings.Join(s.Choices, ", "))
}
