package tasks

import (
	"fmt"
	"strings"
)

// Error is the error returned for bad task input. It names the file, the
// line (0 when the problem is not tied to one line) and the field, so a
// user can go straight to the offending spot:
//
//	tasks: data.jsonl:17: field "label": unknown label "foo"
//	tasks: spam.yaml: field "template": no {text} placeholder
type Error struct {
	File  string // the file as it was opened (YAML or data file); may be empty
	Line  int    // 1-based line number; 0 when not applicable
	Field string // the YAML key or data field; may be empty
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tasks: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(file string, line int, field, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}
