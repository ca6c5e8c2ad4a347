package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
)

// Page is what a man page needs besides the kong model.
type Page struct {
	Section string    // "1"
	Version string    // footer: "<name> <version>"
	Date    string    // footer, YYYY-MM-DD; empty leaves it out
	Extra   []Section // after EXIT STATUS, in order
}

// Section is a hand-written section of the page.
type Section struct {
	Title string
	Body  []Item
}

// Item is a paragraph, tagged (.TP) when Tag is set.
type Item struct {
	Tag, Text string
}

// exitLine is one row of the exit code table in the description:
// "  75  temporary: ...".
var exitLine = regexp.MustCompile(`^\s*(\d+)\s+(\S.*)$`)

// Render writes the man page of app in roff (man macros). The description's
// first sentence becomes the NAME line, a paragraph that starts with "Exit
// codes" becomes EXIT STATUS, the others DESCRIPTION. Hidden commands and
// flags are left out.
func Render(w io.Writer, app *kong.Application, p Page) error {
	summary, desc, exits := splitHelp(app.Help)
	if summary == "" {
		return errors.New("the application has no description for the NAME line")
	}
	if len(exits) == 0 {
		return errors.New(`the description has no "Exit codes" table`)
	}
	bw := bufio.NewWriter(w)
	r := &roff{w: bw}
	name := app.Name

	footer := name
	if p.Version != "" {
		footer += " " + p.Version
	}
	r.macro("TH", strings.ToUpper(name), p.Section, p.Date, footer, "User Commands")
	// No hyphenation, ragged right: paths and variable names stay whole.
	r.line(".nh")
	r.line(".ad l")

	r.macro("SH", "NAME")
	r.line(escLine(name) + ` \- ` + esc(summary))

	r.macro("SH", "SYNOPSIS")
	r.line(".nf")
	for _, cmd := range commands(app.Node) {
		r.synopsis(name, app.Node, cmd)
	}
	r.line(".fi")

	if len(desc) > 0 {
		r.macro("SH", "DESCRIPTION")
		for i, para := range desc {
			if i > 0 {
				r.line(".PP")
			}
			r.text(para)
		}
	}

	if cmds := commands(app.Node); len(cmds) > 0 {
		r.macro("SH", "COMMANDS")
		for _, cmd := range cmds {
			r.line(".TP")
			tag := `\fB` + esc(cmd.Path()) + `\fR`
			for _, a := range cmd.Positional {
				tag += " " + positional(a)
			}
			r.line(tag)
			help := cmd.Help
			if cmd.Detail != "" {
				help += "\n\n" + cmd.Detail
			}
			r.indented(help)
		}
	}

	r.macro("SH", "OPTIONS")
	global := visibleFlags(app.Node)
	if app.HelpFlag != nil && !contains(global, app.HelpFlag) {
		global = append([]*kong.Flag{app.HelpFlag}, global...)
	}
	for _, f := range global {
		r.flag(f)
	}
	for _, cmd := range commands(app.Node) {
		flags := visibleFlags(cmd)
		if len(flags) == 0 {
			continue
		}
		r.macro("SS", "Options of "+cmd.Path())
		for _, f := range flags {
			r.flag(f)
		}
	}

	r.macro("SH", "EXIT STATUS")
	for _, e := range exits {
		if e.Tag == "" {
			r.text(e.Text)
			continue
		}
		r.line(".TP")
		r.line(`.B ` + esc(e.Tag))
		r.text(e.Text)
	}

	for _, s := range p.Extra {
		r.macro("SH", s.Title)
		for i, it := range s.Body {
			switch {
			case it.Tag != "":
				r.line(".TP")
				r.line(`.B ` + esc(it.Tag))
			case i > 0:
				r.line(".PP")
			}
			r.text(it.Text)
		}
	}
	if r.err != nil {
		return r.err
	}
	return bw.Flush()
}

// splitHelp cuts the application's description into the NAME summary, the
// DESCRIPTION paragraphs and the exit code table.
func splitHelp(help string) (summary string, desc []string, exits []Item) {
	for _, para := range strings.Split(strings.TrimSpace(help), "\n\n") {
		para = strings.TrimSpace(para)
		if strings.HasPrefix(para, "Exit codes") {
			// "Exit codes of run, deliver and login (...):" says which commands
			// the table is for: it opens EXIT STATUS.
			if head, _, _ := strings.Cut(para, "\n"); head != "Exit codes:" {
				exits = append(exits, Item{Text: strings.TrimSuffix(head, ":") + "."})
			}
			for _, l := range strings.Split(para, "\n")[1:] {
				if m := exitLine.FindStringSubmatch(l); m != nil {
					exits = append(exits, Item{Tag: m[1], Text: m[2]})
				}
			}
			continue
		}
		if para != "" {
			desc = append(desc, para)
		}
	}
	if len(desc) == 0 {
		return "", nil, exits
	}
	// The first sentence names the program; the rest of its paragraph stays.
	first := desc[0]
	end := strings.Index(first, ". ")
	if end < 0 {
		end = len(strings.TrimSuffix(first, "."))
	}
	summary = strings.TrimSuffix(first[:end], ".")
	if summary != "" {
		summary = strings.ToLower(summary[:1]) + summary[1:]
	}
	if rest := strings.TrimSpace(strings.TrimPrefix(first[end:], ".")); rest != "" {
		desc[0] = rest
	} else {
		desc = desc[1:]
	}
	return summary, desc, exits
}

// commands lists the visible commands under n, depth first.
func commands(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if c.Hidden || c.Type != kong.CommandNode {
			continue
		}
		out = append(out, c)
		out = append(out, commands(c)...)
	}
	return out
}

func visibleFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, f := range n.Flags {
		if !f.Hidden {
			out = append(out, f)
		}
	}
	return out
}

func contains(flags []*kong.Flag, f *kong.Flag) bool {
	for _, g := range flags {
		if g == f || g.Name == f.Name {
			return true
		}
	}
	return false
}

func positional(a *kong.Positional) string {
	s := `\fI` + esc(a.Name) + `\fR`
	if a.IsCumulative() {
		s += "..."
	}
	if !a.Required {
		s = "[" + s + "]"
	}
	return s
}

// roff writes man macros; the first write error sticks.
type roff struct {
	w   io.Writer
	err error
}

func (r *roff) line(s string) {
	if r.err == nil {
		_, r.err = io.WriteString(r.w, s+"\n")
	}
}

// macro writes a request with quoted arguments.
func (r *roff) macro(name string, args ...string) {
	var b strings.Builder
	b.WriteString("." + name)
	for _, a := range args {
		fmt.Fprintf(&b, ` "%s"`, strings.ReplaceAll(esc(a), `"`, `\(dq`))
	}
	r.line(b.String())
}

// text writes running text, a paragraph break for each blank line and one
// line break for each other newline, so that tables in help texts survive.
func (r *roff) text(s string) {
	for i, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if i > 0 {
			r.line(".PP")
		}
		for j, l := range strings.Split(para, "\n") {
			if j > 0 {
				r.line(".br")
			}
			r.line(escLine(strings.TrimSpace(l)))
		}
	}
}

// indented is text inside a .TP item: its paragraphs break with .IP, which
// keeps the item's indent, where .PP would end the item and make the
// rest read as if it applied to the whole section.
func (r *roff) indented(s string) {
	for i, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if i > 0 {
			r.line(".IP")
		}
		r.text(para)
	}
}

func (r *roff) synopsis(name string, app, cmd *kong.Node) {
	s := `\fB` + esc(name) + `\fR`
	if len(visibleFlags(app)) > 0 {
		s += ` [\fIflags\fR]`
	}
	path := `\fB` + esc(cmd.Path()) + `\fR`
	if cmd.Parent != nil && cmd.Parent.DefaultCmd == cmd {
		path = "[" + path + "]"
	}
	s += " " + path
	if len(visibleFlags(cmd)) > 0 {
		s += ` [\fI` + esc(cmd.Name) + ` flags\fR]`
	}
	for _, a := range cmd.Positional {
		s += " " + positional(a)
	}
	r.line(s)
}

// flag writes one option: its spelling, help, default and variable.
func (r *roff) flag(f *kong.Flag) {
	r.line(".TP")
	tag := `\fB\-\-` + esc(f.Name) + `\fR`
	if f.Short != 0 {
		tag = `\fB\-` + esc(string(f.Short)) + `\fR, ` + tag
	}
	if !f.IsBool() && !f.IsCounter() {
		ph := f.FormatPlaceHolder()
		if f.PlaceHolder == "" && f.Enum != "" {
			ph = strings.Join(f.EnumSlice(), "|")
		}
		tag += `=\fI` + esc(ph) + `\fR`
	}
	r.line(tag)
	help := strings.TrimSpace(f.Help)
	lower := strings.ToLower(help)
	if f.HasDefault && f.Default != "" && !f.IsBool() && !strings.Contains(lower, "default") {
		help += " Default: " + f.Default + "."
	}
	if f.IsSlice() && !strings.Contains(lower, "repeat") {
		help += " Repeatable."
	}
	r.indented(help)
	if len(f.Envs) > 0 {
		r.line(".br")
		r.line(`Environment: \fB` + esc(strings.Join(f.Envs, `, `)) + `\fR`)
	}
}

// esc escapes text for roff: backslashes, and hyphens as \- so that flags
// and paths copied from the page work.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// escLine escapes one output line; a leading dot or quote would be read as
// a request.
func escLine(s string) string {
	s = esc(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
