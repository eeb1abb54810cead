package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readmeCode returns the README's code: the lines of its fenced blocks
// (a line ending in a backslash joined to the next) and its inline code
// spans, each with its line number.
func readmeCode(t *testing.T) (lines []string, at []int) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inline := regexp.MustCompile("`([^`]+)`")
	fenced, cont := false, ""
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			if strings.HasSuffix(l, `\`) {
				cont += strings.TrimSuffix(l, `\`) + " "
				continue
			}
			lines, at = append(lines, cont+l), append(at, i+1)
			cont = ""
			continue
		}
		for _, m := range inline.FindAllStringSubmatch(l, -1) {
			lines, at = append(lines, m[1]), append(at, i+1)
		}
	}
	return lines, at
}

// hasFlag tells whether cmd takes --name, its own or inherited.
func hasFlag(cmd *cobra.Command, name string) bool {
	return name == "help" || cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
}

// TestREADMECommandsExist checks every harness command line the README
// shows: its subcommands exist and each --flag is one the command takes;
// and every --flag the README names alone is one some command takes.
func TestREADMECommandsExist(t *testing.T) {
	root := rootCmd()
	all := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { all[f.Name] = true })
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	invocation := regexp.MustCompile(`(?:^|[\s(])(?:\./run\.sh harness|go run (?:-tags \S+ )?\./harness|harness)((?: [^\s#|]+)*)`)
	flag := regexp.MustCompile(`^--([a-z][a-z0-9-]*)`)
	lines, at := readmeCode(t)
	commands, flags := 0, 0
	for i, l := range lines {
		for _, m := range invocation.FindAllStringSubmatch(l, -1) {
			args := strings.Fields(m[1])
			if len(args) == 0 {
				continue // the main job, go run ./harness alone
			}
			if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(args[0]) && !strings.HasPrefix(args[0], "--") {
				continue // prose: "the harness's"
			}
			cmd, rest, err := root.Find(args)
			if err != nil || (cmd == root && !strings.HasPrefix(args[0], "--")) {
				t.Errorf("README.md:%d: %q: no such command (%v)", at[i], "harness"+m[1], err)
				continue
			}
			commands++
			for _, a := range rest {
				if f := flag.FindStringSubmatch(a); f != nil {
					flags++
					if !hasFlag(cmd, f[1]) {
						t.Errorf("README.md:%d: %q: %s takes no --%s", at[i], "harness"+m[1], cmd.CommandPath(), f[1])
					}
				}
			}
		}
		if f := flag.FindStringSubmatch(l); f != nil && !invocation.MatchString(l) {
			flags++
			if !all[f[1]] {
				t.Errorf("README.md:%d: `%s`: no harness command takes --%s", at[i], l, f[1])
			}
		}
	}
	if commands < 30 || flags < 30 {
		t.Fatalf("found %d command lines and %d flags in the README: the scan is broken", commands, flags)
	}
	t.Logf("%d command lines and %d flags checked", commands, flags)
}
